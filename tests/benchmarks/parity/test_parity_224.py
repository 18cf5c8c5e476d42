"""End to end at full size: ShuffleNet 1.0x g3 at 224x224 (random init), every format and precision exported,
then `shufflenet-parity` on the install's photos: every file passes, Core ML float32 included (NumPy evaluator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.register_assert_rewrite("parity_fixtures")
from figures import verdict_figure  # noqa: E402
from parity_fixtures import assert_same_figures, make_export, read_manifest, reference_peak  # noqa: E402
from shufflenet.benchmarks.cli_parity import main  # noqa: E402


@pytest.mark.slow
def test_g3_1x_224_every_format_passes(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = make_export(tmp_path_factory, "g3_224", arch="shufflenet_v1_g3_1.0x", random_init=True, input_size=(224, 224))
    m = read_manifest(d)
    assert {(e["format"], e["precision"]) for e in m["artifacts"]} == {
        ("onnx", "fp32"), ("tflite", "fp32"), ("tflite", "fp16"), ("tflite", "fp16-arith"), ("tflite", "int8"),
        ("coreml", "fp16"), ("coreml", "fp32"), ("executorch", "fp32"), ("executorch", "int8"),
    }  # fmt: skip
    n = 12
    js = tmp_path / "p.json"
    rc = main(["--artifacts", str(d), "--json", str(js), "--per-layer", "--per-layer-images", "4"])
    out = capsys.readouterr().out
    assert rc == 0, out
    report = json.loads(js.read_text())
    assert len(report) == n and all(r["passed"] for r in report)
    peak = reference_peak(d)
    for r, e in zip(report, m["artifacts"], strict=True):
        assert_same_figures(r, e["parity"], peak, r["path"])  # the export's own figures (computed in its process)
        assert verdict_figure("g3 1.0x 224 random init, 96 install photos", r), r
    coreml_fp32 = [r for r in report if r["format"] == "coreml" and r["precision"] == "fp32"]
    assert len(coreml_fp32) == 2
    assert all(r["evaluated_by"] == "coreml-numpy" and r["top1_agreement"] == 1.0 for r in coreml_fp32)
    assert f"all {n} files pass" in out
    layers = next(r for r in report if "per_layer" in r)["per_layer"]["layers"]
    # 33 CONV_2D + 16 depthwise convs + the 3 stride-2 average pools, written as depthwise convs in int8
    assert sum(la["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D") for la in layers) == 52
