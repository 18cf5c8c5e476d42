"""Pass/fail judgement and the reports of `shufflenet-parity`, on figures computed from small known arrays
(no export needed), plus the errors raised before any file runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from shufflenet.benchmarks.cli_parity import _fraction, build_parser, main
from shufflenet.benchmarks.parity.parity_defaults import DEFAULT_INT8_MAX_RMS_STEPS, int8_rms_bar, psnr_bar
from shufflenet.benchmarks.parity.parity_report import ParityReport, Thresholds, judge
from shufflenet.export.metrics import compare
from shufflenet.export.parity import ArtifactParity

REF = np.array([[3.0, -4.0, 0.0, 0.0], [1.0, 0.0, 2.0, 0.5]])


def parity(precision: str, test: np.ndarray, path: str = "net.tflite") -> ArtifactParity:
    fmt = "tflite"
    return ArtifactParity(fmt, precision, "x", path, "logits", "litert", compare(REF, test))


def noisy(rmse: float) -> np.ndarray:
    """REF plus alternating +-rmse: RMSE exactly ``rmse``, so PSNR = 20 log10(4 / rmse)."""
    return REF + rmse * np.array([[1.0, -1.0, 1.0, -1.0], [-1.0, 1.0, -1.0, 1.0]])


def test_psnr_shortfall_message() -> None:
    # peak |REF| = 4; RMSE 4 * 10^(-X/20) gives PSNR X dB exactly. Two images: each bar is lowered by 12/sqrt(2) dB.
    fp16_bar, int8_bar = psnr_bar(45, 2), psnr_bar(50, 2)
    assert fp16_bar == pytest.approx(45 - 12 / math.sqrt(2)) and fp16_bar < 45
    rmse = 4 * 10 ** (-38.2 / 20)
    r = judge(parity("fp16", noisy(rmse)), Thresholds())
    assert r.passed
    r = judge(parity("int8", noisy(rmse)), Thresholds(min_psnr_db={"fp32": 80, "fp16": 45, "int8": 50}))
    assert not r.passed
    assert r.fail_lines() == [f"FAIL net.tflite: psnr_db 38.2 < {int8_bar:.1f} (short by {int8_bar - 38.2:.1f} dB)"]
    rmse = 4 * 10 ** (-30.2 / 20)
    r = judge(parity("fp16", noisy(rmse), "net_fp16.tflite"), Thresholds())
    assert r.fail_lines() == [
        f"FAIL net_fp16.tflite: psnr_db 30.2 < {fp16_bar:.1f} (short by {fp16_bar - 30.2:.1f} dB)"
    ]
    (f,) = r.failures
    assert (f.metric, f.threshold) == ("psnr_db", fp16_bar) and f.short_by == pytest.approx(fp16_bar - 30.2)


def test_psnr_bar_lowered_for_few_images() -> None:
    bars = [psnr_bar(45.0, n) for n in (1, 6, 96, 10_000)]
    assert bars == sorted(bars) and bars[0] == 33.0 and bars[-1] == pytest.approx(44.88)


def test_int8_is_judged_in_its_own_quantized_steps() -> None:
    """An int8 file's verdict is its RMS difference in output steps against a bar that widens for few images;
    its PSNR (12 dB here, with steps of 0.1) is reported but not judged unless a PSNR bar is asked for."""
    bar = int8_rms_bar(DEFAULT_INT8_MAX_RMS_STEPS, 2)  # two images
    assert bar == pytest.approx(8 * (1 + 3 / math.sqrt(2)))
    step = 0.1
    ok = ArtifactParity("tflite", "int8", "x", "q.tflite", "logits", "litert", compare(REF, noisy(1.0), step))
    assert ok.metrics.rms_steps == pytest.approx(10.0) and ok.metrics.psnr_db == pytest.approx(20 * math.log10(4))
    assert judge(ok, Thresholds()).passed
    assert not judge(ok, Thresholds(min_psnr_db={"fp32": 80, "fp16": 45, "int8": 30})).passed
    far = ArtifactParity("tflite", "int8", "x", "q.tflite", "logits", "litert", compare(REF, noisy(2.6), step))
    r = judge(far, Thresholds())
    assert [f.metric for f in r.failures] == ["rms_steps"]
    assert r.fail_lines() == [f"FAIL q.tflite: rms_steps 26.0 > {bar:.1f} quantized steps (the int8 bar for these "
                              f"images; over by {26 - bar:.1f})"]  # fmt: skip
    assert judge(far, Thresholds(int8_max_rms_steps=9)).passed


def test_int8_bar_widens_for_few_images() -> None:
    bars = [int8_rms_bar(8.0, n) for n in (1, 6, 16, 96, 10_000)]
    assert bars == sorted(bars, reverse=True)
    assert bars[0] == 32.0 and bars[2] == 14.0 and bars[-1] == pytest.approx(8.24)


def test_npu_int8_file_within_twice_the_bar_of_its_cpu_file() -> None:
    """Two int8 files that each pass the bar differ by at most twice it (RMS, triangle inequality); an explicit
    --npu-max-steps judges the largest difference instead."""
    bar = int8_rms_bar(DEFAULT_INT8_MAX_RMS_STEPS, 2)
    for rms, passed in ((2 * bar - 0.1, True), (2 * bar + 0.1, False)):
        vs_cpu = {"rms_quantized_steps": rms, "max_quantized_steps": 90}
        p = ArtifactParity(
            "tflite", "int8", "x", "npu.tflite", "logits", "qnn-htp", compare(REF, REF, 0.1), vs_cpu=vs_cpu
        )
        r = judge(p, Thresholds())
        assert r.passed is passed, r.fail_lines()
        assert judge(p, Thresholds(npu_max_steps=100)).passed
        assert [f.metric for f in judge(p, Thresholds(npu_max_steps=50)).failures] == ["vs_cpu_max_quantized_steps"]


def test_fp32_needs_full_top1_agreement() -> None:
    flipped = REF.copy()
    flipped[1] = [1.0, 0.0, 0.5, 2.0]  # row 1's argmax moves: top-1 agreement 50 %
    r = judge(parity("fp32", flipped, "net_float32.tflite"), Thresholds())
    lines = r.fail_lines()
    assert "FAIL net_float32.tflite: top1_agreement 50.0 % < 100.0 % (short by 50.0 points)" in lines
    assert any(line.startswith("FAIL net_float32.tflite: psnr_db") for line in lines)
    # int8 files have no top-1 bar unless one is set
    r8 = judge(parity("int8", flipped), Thresholds())
    assert all(f.metric != "top1_agreement" for f in r8.failures)
    r_strict = judge(parity("int8", flipped), Thresholds(min_top1={"fp32": 1.0, "fp16": 0.0, "int8": 0.9}))
    assert any(f.metric == "top1_agreement" for f in r_strict.failures)


def test_identical_outputs_pass_and_json_stays_strict() -> None:
    r = judge(parity("fp32", REF.copy(), "net.onnx"), Thresholds())
    assert r.passed and math.isinf(r.parity.metrics.psnr_db)
    d = r.to_dict()
    assert d["psnr_db"] is None and d["passed"] is True and d["evaluated_by"] == "litert"
    json.dumps(d, allow_nan=False)


def test_report_text_and_markdown() -> None:
    rmse = 4 * 10 ** (-30.2 / 20)
    line = f"FAIL b.tflite: psnr_db 30.2 < {psnr_bar(45, 2):.1f} (short by {psnr_bar(45, 2) - 30.2:.1f} dB)"
    files = [judge(parity("fp32", REF.copy(), "a.onnx"), Thresholds()),
             judge(parity("fp16", noisy(rmse), "b.tflite"), Thresholds())]  # fmt: skip
    rep = ParityReport(Path("out"), "arch", (32, 32), {"kind": "random-init", "seed": 0},
                       {"images": 2, "source": "test"}, Thresholds(), files)  # fmt: skip
    assert not rep.passed
    text = rep.to_text()
    assert line in text
    assert "a.onnx" in text and "inf" in text
    md = rep.to_markdown()
    assert "| file | format | precision | evaluated by | max abs |" in md
    assert "| b.tflite | tflite | fp16 | litert |" in md and "| FAIL |" in md
    assert line in md
    assert [f["path"] for f in rep.to_json()] == ["a.onnx", "b.tflite"]


def test_threshold_flags_parse() -> None:
    args = build_parser().parse_args(["--artifacts", "x", "--min-psnr-fp16", "50", "--min-top1-fp32", "99%"])
    assert args.min_psnr_fp16 == 50.0 and args.min_top1_fp32 == pytest.approx(0.99)
    assert (args.min_psnr_fp32, args.min_psnr_int8, args.min_top1_int8) == (80.0, None, 0.0)
    assert args.max_rms_steps_int8 == 8.0
    assert _fraction("1.0") == 1.0 and _fraction("100") == 1.0 and _fraction("95%") == pytest.approx(0.95)
    with pytest.raises(Exception, match="not between"):
        _fraction("150%")


def test_not_an_export_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--artifacts", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().startswith("error: ") and "has no manifest.json" in err and len(err.strip().splitlines()) == 1
    assert main(["--artifacts", str(tmp_path / "nowhere")]) == 2
    assert "nowhere does not exist" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text("{not json")
    assert main(["--artifacts", str(tmp_path)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


def test_incomplete_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shufflenet.export.manifest import SCHEMA

    m = {"schema": SCHEMA, "arch": "x", "input_size": [32, 32], "source": {}, "preprocessing": {}, "artifacts": []}
    (tmp_path / "manifest.json").write_text(json.dumps({k: v for k, v in m.items() if k != "source"}))
    assert main(["--artifacts", str(tmp_path)]) == 2
    assert "lacks source" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    assert main(["--artifacts", str(tmp_path)]) == 2
    assert "lists no files" in capsys.readouterr().err
    m["artifacts"] = [{"format": "onnx", "precision": "fp32", "path": "a.onnx", "inputs": [], "outputs": []}]
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    assert main(["--artifacts", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "manifest entry a.onnx lacks sha256" in err and "Traceback" not in err
