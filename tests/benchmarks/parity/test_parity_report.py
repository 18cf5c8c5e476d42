"""Pass/fail judgement and the reports of `shufflenet-parity`, on figures computed from small known arrays
(no export needed), plus the errors raised before any file runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from shufflenet.benchmarks.cli_parity import _fraction, build_parser, main
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
    # peak |REF| = 4; RMSE 4 * 10^(-48.2/20) gives PSNR 48.2 dB exactly
    rmse = 4 * 10 ** (-48.2 / 20)
    r = judge(parity("fp16", noisy(rmse)), Thresholds())
    assert r.passed
    r = judge(parity("int8", noisy(rmse)), Thresholds(min_psnr_db={"fp32": 80, "fp16": 45, "int8": 50}))
    assert not r.passed
    assert r.fail_lines() == ["FAIL net.tflite: psnr_db 48.2 < 50.0 (short by 1.8 dB)"]
    rmse = 4 * 10 ** (-38.2 / 20)
    r = judge(parity("fp16", noisy(rmse), "net_fp16.tflite"), Thresholds())
    assert r.fail_lines() == ["FAIL net_fp16.tflite: psnr_db 38.2 < 45.0 (short by 6.8 dB)"]
    (f,) = r.failures
    assert (f.metric, f.threshold) == ("psnr_db", 45.0) and f.short_by == pytest.approx(6.8)


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
    rmse = 4 * 10 ** (-38.2 / 20)
    files = [judge(parity("fp32", REF.copy(), "a.onnx"), Thresholds()),
             judge(parity("fp16", noisy(rmse), "b.tflite"), Thresholds())]  # fmt: skip
    rep = ParityReport(Path("out"), "arch", (32, 32), {"kind": "random-init", "seed": 0},
                       {"images": 2, "source": "test"}, Thresholds(), files)  # fmt: skip
    assert not rep.passed
    text = rep.to_text()
    assert "FAIL b.tflite: psnr_db 38.2 < 45.0 (short by 6.8 dB)" in text
    assert "a.onnx" in text and "inf" in text
    md = rep.to_markdown()
    assert "| file | format | precision | evaluated by | max abs |" in md
    assert "| b.tflite | tflite | fp16 | litert |" in md and "| FAIL |" in md
    assert "FAIL b.tflite: psnr_db 38.2 < 45.0 (short by 6.8 dB)" in md
    assert [f["path"] for f in rep.to_json()] == ["a.onnx", "b.tflite"]


def test_threshold_flags_parse() -> None:
    args = build_parser().parse_args(["--artifacts", "x", "--min-psnr-fp16", "50", "--min-top1-fp32", "99%"])
    assert args.min_psnr_fp16 == 50.0 and args.min_top1_fp32 == pytest.approx(0.99)
    assert (args.min_psnr_fp32, args.min_psnr_int8, args.min_top1_int8) == (80.0, 30.0, 0.0)
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
