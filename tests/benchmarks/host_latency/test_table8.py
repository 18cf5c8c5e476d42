"""Table 8: the models and their multiply-adds, the table layout, and a real (small) measurement."""

from __future__ import annotations

from pathlib import Path

import pytest
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.host_latency.mobilenet_v1 import mobilenet_v1
from shufflenet.benchmarks.host_latency.table8 import (
    MODEL_LABELS,
    PAPER_BY_LABEL,
    Table8Config,
    build,
    run_table8_host,
    table8_markdown,
    table8_size,
)
from shufflenet.benchmarks.reports.results import read_json
from shufflenet.model.complexity import count_complexity


def test_mobilenet_v1_has_the_papers_complexity() -> None:
    c = count_complexity(mobilenet_v1(), (224, 224))
    assert c.mmacs == pytest.approx(569, abs=1.0)  # 568.7 M conv + FC multiply-adds
    assert c.mparams == pytest.approx(4.23, abs=0.01)
    half = count_complexity(mobilenet_v1(0.5), (224, 224))
    assert half.mmacs == pytest.approx(149, abs=1.0)  # the paper's MobileNet 0.5 (Table 5)


def test_table8_models_and_their_macs() -> None:
    assert MODEL_LABELS == ("ShuffleNet 0.5x", "ShuffleNet 1x", "ShuffleNet 2x", "MobileNet 1.0")
    expected = {"ShuffleNet 0.5x": 37.6, "ShuffleNet 1x": 137.5, "ShuffleNet 2x": 524.0, "MobileNet 1.0": 568.7}
    for label, mmacs in expected.items():
        assert count_complexity(build(label), (224, 224)).mmacs == pytest.approx(mmacs, abs=0.1)
    # at 720x1280 the MACs scale with the pixels (the FC layer aside)
    big = count_complexity(build("ShuffleNet 0.5x"), (720, 1280)).mmacs
    assert big == pytest.approx(37.6 * 720 * 1280 / 224**2, rel=0.02)
    assert PAPER_BY_LABEL["ShuffleNet 1x"].ms[(480, 640)] == 222.2
    with pytest.raises(ValueError, match="no model for 'AlexNet'"):
        build("AlexNet")


def test_table8_size() -> None:
    assert table8_size("480x640") == (480, 640)
    assert table8_size("224") == (224, 224)  # the one size rule of every command: H or HxW
    for bad in ("480x", "ax3", "16x16", "0x224"):
        with pytest.raises(ValueError):
            table8_size(bad)


def test_table8_host_pytorch_layout(tmp_path: Path) -> None:
    cfg = Table8Config(runtimes=["pytorch"], models=["ShuffleNet 0.5x", "ShuffleNet 1x"], sizes=[(224, 224)],
                       warmup=1, runs=3, repeats=1, cache=tmp_path / "cache")  # fmt: skip
    rep = run_table8_host(cfg)
    assert [r.label for r in rep.results] == ["ShuffleNet 0.5x", "ShuffleNet 1x"]
    for r in rep.results:
        assert r.status == "ok" and r.threads == 1 and r.input_size == [224, 224] and r.runs == 3
    assert rep.results[0].macs == count_complexity(build("ShuffleNet 0.5x"), (224, 224)).macs
    md = table8_markdown(rep)
    assert "| ShuffleNet 0.5x | 43.2 | 38 | 37.6 | 15.2 |" in md
    assert "| AlexNet | 42.8 | 720 | – | 184.0 | not reproduced |" in md
    assert "| MobileNet 1.0 | 29.4 | 569 | – | 110.0 | not run |" in md
    # theoretical vs actual: MACs ratio 137.5 / 37.6 = 3.66x, paper 37.8 / 15.2 = 2.49x
    assert "| ShuffleNet 1x → ShuffleNet 0.5x | 224x224 | 3.66x | 2.49x |" in md
    assert "Actual speed-up of one ShuffleNet width step" in md and "paper 2.49x" in md


def test_table8_cli_rejects_bad_options(tmp_path: Path, capsys) -> None:
    rc = main(["table8", "host", "--sizes", "224x", "--json", str(tmp_path / "t.json")])
    assert rc == 2 and capsys.readouterr().err.strip().startswith("error: input size '224x' is not H or HxW")
    rc = main(["table8", "host", "--models", "AlexNet", "--json", str(tmp_path / "t.json")])
    assert rc == 2 and "unknown model(s) ['AlexNet']" in capsys.readouterr().err


@pytest.mark.slow
def test_table8_host_all_runtimes_small(tmp_path: Path, capsys) -> None:
    pytest.importorskip("shufflenet.export.formats.tflite_export", reason="the export library is not available")
    out = tmp_path / "t8.json"
    rc = main(["table8", "host", "--models", "ShuffleNet 0.5x,MobileNet 1.0", "--sizes", "224x224",
               "--runs", "3", "--repeats", "1", "--warmup", "1", "--cache", str(tmp_path / "cache"),
               "--json", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    rep = read_json(out)
    assert {(r.label, r.runtime) for r in rep.results} == {
        (m, rt) for m in ("ShuffleNet 0.5x", "MobileNet 1.0") for rt in ("pytorch", "onnxruntime", "litert")
    }
    assert all(r.status == "ok" for r in rep.results)
    assert {r.format for r in rep.results} == {"pytorch", "onnx", "tflite"}
    md = (tmp_path / "t8.md").read_text()
    assert "### Table 8 reproduced on" in md and "**litert**" in md
    for name in ("t8_latency.png", "t8_latency_vs_macs.png", "t8.csv"):
        assert (tmp_path / name).is_file()
    # a second run reuses the exported files
    before = sorted(p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.tflite"))
    assert main(["table8", "host", "--models", "ShuffleNet 0.5x", "--sizes", "224x224", "--runs", "1",
                 "--repeats", "1", "--warmup", "0", "--runtimes", "litert", "--cache", str(tmp_path / "cache"),
                 "--json", str(tmp_path / "t8b.json")]) == 0  # fmt: skip
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.tflite")) == before
