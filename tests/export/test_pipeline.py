"""A real export of one variant to every format: files, manifest, signatures, parity, graph quality."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

import numpy as np
import pytest
from figures import same_bytes, verdict_figure
from shufflenet.export.manifest import read_manifest, sha256_path, verify_artifact
from shufflenet.export.pipeline import ExportResult
from shufflenet.model import get_variant

pytestmark = [pytest.mark.slow, pytest.mark.numerics]

SMALL_ARCH = "shufflenet_v1_g3_0.25x_cifar"  # what the small_export fixture exports


def by_name(result: ExportResult) -> dict[str, dict]:
    return {e["path"]: e for e in result.manifest["artifacts"]}


def test_every_format_and_precision_written(small_export: ExportResult) -> None:
    a = SMALL_ARCH
    names = set(by_name(small_export))
    assert names == {
        f"{a}_executorch_xnnpack_fp32.pte", f"{a}_executorch_xnnpack_int8.pte",
        f"{a}_fp32.onnx", f"{a}_fp32.sim.onnx", f"{a}_float32.tflite",
        f"{a}_float16_weights_float32_io.tflite", f"{a}_float16_arithmetic_float32_io.tflite",
        f"{a}_int8_full_integer_int8_io.tflite",
        f"{a}_coreml_fp16_image.mlpackage", f"{a}_coreml_fp32_image.mlpackage",
        f"{a}_coreml_fp16_tensor.mlpackage", f"{a}_coreml_fp32_tensor.mlpackage",
    }  # fmt: skip
    out = small_export.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*names, "labels.txt", "manifest.json", "preprocessing.json"]
    )
    assert not list(out.parent.glob(f".{out.name}.tmp-*"))


def test_manifest_records_everything(small_export: ExportResult) -> None:
    out = small_export.output
    m = read_manifest(out)
    assert m == json.loads(json.dumps(small_export.manifest))
    assert m["source"] == {"kind": "random-init", "seed": 3, "sha256": None}
    assert m["calibration"]["kind"] == "install-photos" and m["calibration"]["images"] >= 50
    assert m["tool_versions"]["torch"].startswith("2.13.0")
    prep = json.loads((out / "preprocessing.json").read_text())
    assert prep["colour_order"] == "RGB" and prep["crop"] == [32, 32] and prep == {**prep, **m["preprocessing"]}
    labels = (out / "labels.txt").read_text().splitlines()
    assert labels == get_variant(SMALL_ARCH).class_names()
    for e in m["artifacts"]:
        assert verify_artifact(out, e) == out / e["path"]
        assert e["sha256"] == sha256_path(out / e["path"]) and e["size_bytes"] > 10_000
        assert e["op_histogram"] and e["inputs"] and e["outputs"]


def test_signatures(small_export: ExportResult) -> None:
    e = by_name(small_export)
    a = SMALL_ARCH
    onnx_in = e[f"{a}_fp32.sim.onnx"]["inputs"][0]
    assert (onnx_in["shape"], onnx_in["layout"], onnx_in["dtype"]) == ([1, 3, 32, 32], "NCHW", "float32")
    f32 = e[f"{a}_float32.tflite"]
    assert f32["inputs"][0]["shape"] == [1, 32, 32, 3] and f32["inputs"][0]["layout"] == "NHWC"
    int8 = e[f"{a}_int8_full_integer_int8_io.tflite"]
    assert int8["inputs"][0]["dtype"] == "int8" and int8["outputs"][0]["dtype"] == "int8"
    assert int8["inputs"][0]["quantization"]["scale"] > 0 and int8["outputs"][0]["quantization"]["scale"] > 0
    assert e[f"{a}_coreml_fp16_image.mlpackage"]["inputs"][0]["kind"] == "image"
    assert e[f"{a}_coreml_fp32_tensor.mlpackage"]["outputs"][0]["shape"] == [1, 10]


def test_parity_measured_right_after_export(small_export: ExportResult) -> None:
    from shufflenet.export.parity import rebuild_reference

    model = rebuild_reference(small_export.manifest, small_export.output).model
    weights = hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values())).hexdigest()[:12]
    for e in small_export.manifest["artifacts"]:
        # The same bytes under every numeric configuration, given the same weights: the small export's are a seeded
        # random init, which other kernels need not draw the same, so its files are compared between passes that
        # drew the same weights (their hash is in the name), and the int8 .pte (ranges from PyTorch's observers)
        # not at all.
        if e["reproducible"] == "x86-64":
            same_bytes(f"small export from weights {weights}: {e['path']}", e["sha256"])
        p = e["parity"]
        assert p["images"] >= 50
        assert verdict_figure("small export's own parity", {**p, "path": e["path"], "precision": e["precision"]}), p
        if e["precision"] == "fp32":
            assert p["top1_agreement"] == 1.0, e["path"]
        by = {"onnx": "onnxruntime", "tflite": "litert", "coreml": "coreml-numpy", "executorch": "executorch"}[
            e["format"]
        ]
        if e["precision"] == "fp16-arith":  # x86 LiteRT computes it in float32, and the manifest says so
            by = f"litert (fp32 arithmetic on {platform.machine()})"
        assert p["evaluated_by"] == by


def test_manifest_says_which_arithmetic_each_file_asks_for(small_export: ExportResult) -> None:
    """float32 everywhere but the float16 programs: Core ML fp16 and the TFLite float16-arithmetic file (whose
    metadata lets XNNPACK compute in float16); the float16-weights file keeps float32 arithmetic."""
    got = {(e["format"], e["precision"]): (e["arithmetic"], e.get("reduced_precision_support"))
           for e in small_export.manifest["artifacts"]}  # fmt: skip
    assert got == {
        ("onnx", "fp32"): ("fp32", None), ("tflite", "fp32"): ("fp32", None),
        ("tflite", "fp16"): ("fp32", "fp16accfp32"), ("tflite", "fp16-arith"): ("fp16", "fp16accfp16"),
        ("tflite", "int8"): ("int8", None), ("coreml", "fp16"): ("fp16", None), ("coreml", "fp32"): ("fp32", None),
        ("executorch", "fp32"): ("fp32", None), ("executorch", "int8"): ("int8", None),
    }  # fmt: skip


def test_float16_arithmetic_file_is_one_xnnpack_partition_with_float32_io(small_export: ExportResult) -> None:
    """The same graph as the float16-weights file (its DEQUANTIZE nodes included), every node in one XNNPACK
    partition, float32 input and output, the export's graph gate passed."""
    e = by_name(small_export)
    arith = e[f"{SMALL_ARCH}_float16_arithmetic_float32_io.tflite"]
    weights = e[f"{SMALL_ARCH}_float16_weights_float32_io.tflite"]
    assert arith["graph_check"]["ok"], arith["graph_check"]
    assert arith["op_histogram"] == weights["op_histogram"] and arith["op_histogram"]["DEQUANTIZE"] > 0
    cov = arith["delegate_coverage"]
    assert cov["partitions"] == 1 and cov["delegated_nodes"] == cov["nodes"] == sum(arith["op_histogram"].values())
    assert [d["dtype"] for d in arith["inputs"] + arith["outputs"]] == ["float32", "float32"]
    assert arith["size_bytes"] == pytest.approx(weights["size_bytes"], abs=256)  # the same float16 weights


def test_onnx_runtime_equals_pytorch_to_float32_rounding(small_export: ExportResult) -> None:
    for e in small_export.manifest["artifacts"]:
        if e["format"] == "onnx":
            assert e["parity"]["max_abs"] < 1e-4, e["path"]


def test_int8_graph_is_integer_end_to_end(small_export: ExportResult) -> None:
    from ai_edge_litert.interpreter import Interpreter

    e = by_name(small_export)[f"{SMALL_ARCH}_int8_full_integer_int8_io.tflite"]
    assert e["graph_check"]["ok"], e["graph_check"]
    interp = Interpreter(model_path=str(small_export.output / e["path"]))
    dtypes = {np.dtype(t["dtype"]).name for t in interp.get_tensor_details()}
    assert "float32" not in dtypes and "int8" in dtypes
    conv_weights = [
        t for t in interp.get_tensor_details() if t["name"].endswith("Conv2D") or "conv" in t["name"].lower()
    ]
    per_channel = [t for t in conv_weights if len(t["quantization_parameters"]["scales"]) > 1]
    assert per_channel, "expected per-channel weight scales on the conv weights"


def test_dynamic_batch_onnx(tmp_path: Path) -> None:
    import onnxruntime as ort
    from shufflenet.export.pipeline import ExportConfig, run_export

    r = run_export(ExportConfig(output=tmp_path / "dyn", arch=SMALL_ARCH, random_init=True, formats=("onnx",),
                                dynamic_batch=True))  # fmt: skip
    for e in r.manifest["artifacts"]:
        assert e["inputs"][0]["shape"][0] == "batch"
        sess = ort.InferenceSession(str(r.output / e["path"]), providers=["CPUExecutionProvider"])
        out = sess.run(None, {"input": np.zeros((5, 3, 32, 32), np.float32)})[0]
        assert out.shape == (5, 10)
