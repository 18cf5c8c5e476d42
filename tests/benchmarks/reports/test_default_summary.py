"""The default's headline figures: the committed docs/results files measured the shipped default, and the
summary computes the int8 drop, agreement and arm64 rows from them (and refuses a file of another model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from shufflenet.benchmarks.reports.default_summary import (
    EVAL_FILES,
    OPTIONAL_FILES,
    PARITY_FILES,
    main,
    summarize,
    to_markdown,
)
from shufflenet.model.pretrained import SHIPPED_WEIGHTS, default_variant_name

RESULTS = Path(__file__).parents[3] / "docs" / "results"


def test_committed_results_are_of_the_shipped_default(tmp_path: Path) -> None:
    """Every accuracy and parity file of docs/results names the default's files, its PyTorch top-1 is the
    card's, and the committed summary is what the files give (rerun scripts/measure_default.sh otherwise)."""
    s = summarize(RESULTS)
    assert s.stale == [] and set(s.missing) <= set(OPTIONAL_FILES)
    arch = default_variant_name()
    assert all(Path(r["path"]).name.startswith(arch) for r in s.accuracy + s.parity)
    full = [r for r in s.accuracy if r["format"] == "pytorch" and r["images"] == 10000]
    assert full and {r["top1"] for r in full} == {SHIPPED_WEIGHTS[arch].metrics["top1"]}
    # every exported precision was measured on all 10,000 test images (Core ML: on the NumPy evaluator, a subset)
    measured = {(r["format"], r["precision"]) for r in s.accuracy if r["images"] == 10000}
    assert {("onnx", "fp32"), ("tflite", "fp32"), ("tflite", "fp16"), ("tflite", "int8")} <= measured
    assert {("coreml", "fp16"), ("coreml", "fp32")} <= {(r["format"], r["precision"]) for r in s.accuracy}
    committed = json.loads((RESULTS / "default_model.json").read_text())
    assert committed == json.loads(json.dumps(s.to_dict()))
    assert (RESULTS / "default_model.md").read_text() == to_markdown(s)


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "results"
    d.mkdir()
    for name in (*EVAL_FILES, *PARITY_FILES):
        if (RESULTS / name).is_file():
            shutil.copy(RESULTS / name, d / name)
    return d


def test_int8_drop_and_agreement_against_the_targets(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    name = "eval_default_onnx_tflite.json"
    rows = json.loads((d / name).read_text())
    ref = next(r for r in rows if r["format"] == "pytorch")
    int8 = next(r for r in rows if r["precision"] == "int8")
    int8.update(top1=ref["top1"] - 0.0031, top1_agreement=0.9799)  # 0.31 points lost, 97.99 % agreement
    (d / name).write_text(json.dumps(rows))
    (row,) = [r for r in summarize(d).int8 if r["source"] == name]
    assert row["drop_points"] == pytest.approx(0.31) and not row["drop_ok"] and not row["agreement_ok"]
    int8.update(top1=ref["top1"] - 0.003, top1_agreement=0.98)
    (d / name).write_text(json.dumps(rows))
    (row,) = [r for r in summarize(d).int8 if r["source"] == name]
    assert row["drop_ok"] and row["agreement_ok"]
    assert "| met |" in to_markdown(summarize(d))


def test_a_result_of_other_weights_is_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy(tmp_path)
    name = "eval_default_arm64_int8_cortex-a53.json"
    rows = json.loads((d / name).read_text())
    rows[0]["top1"] -= 0.01  # the PyTorch row of some other checkpoint
    (d / name).write_text(json.dumps(rows))
    other = json.loads((d / "parity_default.json").read_text())
    other[0]["path"] = "shufflenet_v1_g1_1.0x_cifar_fp32.onnx"
    (d / "parity_default.json").write_text(json.dumps(other))
    (d / "eval_cifarcalib.json").unlink()
    assert main(["--results", str(d)]) == 1
    err = capsys.readouterr().err
    assert f"{name}: PyTorch top-1" in err and "parity_default.json: shufflenet_v1_g1_1.0x_cifar_fp32.onnx" in err
    summary = json.loads((d / "default_model.json").read_text())
    assert "eval_cifarcalib.json" in summary["missing"] and len(summary["stale"]) == 2
    assert "## Not measured on this model" in (d / "default_model.md").read_text()


def test_missing_results_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--results", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--results" in err and "does not exist" in err
