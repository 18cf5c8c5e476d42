"""int8 calibration that gives the same file on every host: ranges from LiteRT's reference kernels, quantized by
TensorFlow's own quantizer; and Core ML packages that come out byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from shufflenet.export.pipeline import ExportResult

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow  # the session's small export, and TensorFlow's converter

SMALL = "shufflenet_v1_g3_0.25x_cifar"


def _calibration(small_export: Path) -> tuple[object, np.ndarray]:
    """The small export's fixed-shape ONNX graph and its calibration images (normalised NHWC float32)."""
    from shufflenet.export.calibration import install_photos
    from shufflenet.export.formats.onnx_export import fixed_shape_onnx
    from shufflenet.model.preprocessing import Preprocessing, normalize_hwc

    m = json.loads((small_export / "manifest.json").read_text())
    prep = Preprocessing.from_dict(m["preprocessing"])
    graph = fixed_shape_onnx(small_export / f"{SMALL}_fp32.sim.onnx", tuple(m["input_size"]))
    return graph, normalize_hwc(install_photos(prep, seed=0).images[:24], prep).astype(np.float32)


def _converter(graph: object, images: np.ndarray, calibrate_only: bool) -> object:
    import tensorflow as tf
    from shufflenet.export.formats.onnx_to_tf import build_tf_function

    conv = tf.lite.TFLiteConverter.from_concrete_functions([build_tf_function(graph, avgpool_as_depthwise=True)[0]])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    conv.representative_dataset = lambda: ([x[None]] for x in images)
    conv._experimental_calibrate_only = calibrate_only
    return conv


def _model_without_metadata(data: bytes) -> object:
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(data)
    m.metadata, m.signatureDefs = None, None
    return m


def test_the_quantize_step_is_the_converters_own(small_export: ExportResult) -> None:
    """Given TensorFlow's own ranges, calibrate-only + quantize_full_integer writes the model the converter writes
    in one go (every op, tensor, scale and weight; only the conversion metadata's model hash differs): the new path
    changes the ranges and nothing else."""
    from shufflenet.export.formats.tflite_calibration import quantize_full_integer

    graph, images = _calibration(small_export.output)
    whole = _converter(graph, images, calibrate_only=False).convert()
    ours = quantize_full_integer(_converter(graph, images, calibrate_only=True).convert())
    a, b = _model_without_metadata(whole), _model_without_metadata(ours)
    assert [(t.name, t.type, list(t.shape)) for t in a.subgraphs[0].tensors] == \
        [(t.name, t.type, list(t.shape)) for t in b.subgraphs[0].tensors]  # fmt: skip
    for x, y in zip(a.subgraphs[0].tensors, b.subgraphs[0].tensors, strict=True):
        qa, qb = x.quantization, y.quantization
        assert (qa is None) == (qb is None)
        if qa is not None and qa.scale is not None:
            assert np.array_equal(qa.scale, qb.scale) and np.array_equal(qa.zeroPoint, qb.zeroPoint), x.name
        da, db = a.buffers[x.buffer].data, b.buffers[y.buffer].data
        assert (da is None) == (db is None) and (da is None or np.array_equal(da, db)), x.name
    assert [(o.opcodeIndex, list(o.inputs), list(o.outputs)) for o in a.subgraphs[0].operators] == \
        [(o.opcodeIndex, list(o.inputs), list(o.outputs)) for o in b.subgraphs[0].operators]  # fmt: skip


def test_ranges_are_true_min_max_and_the_same_in_any_process(small_export: ExportResult, tmp_path: Path) -> None:
    """The ranges are each tensor's min and max over the images (the input's are the images' own), and another
    process with other PyTorch/oneDNN/OpenBLAS kernels, one thread and TensorFlow without oneDNN measures the same
    ranges bit for bit, so it writes the same int8 file."""
    from shufflenet.export.formats.tflite_calibration import (
        calibrate_and_quantize,
        ranged_tensors,
        read_ranges,
        reference_ranges,
        with_ranges,
    )

    graph, images = _calibration(small_export.output)
    calibrated = _converter(graph, images, calibrate_only=True).convert()
    tensors = ranged_tensors(calibrated)
    ranges = reference_ranges(calibrated, images, tensors)
    assert len(tensors) > 50 and set(ranges) == set(tensors)
    from ai_edge_litert.interpreter import Interpreter

    first = Interpreter(model_content=calibrated).get_input_details()[0]["index"]
    assert ranges[first] == (float(images.min()), float(images.max()))
    assert all(lo <= hi for lo, hi in ranges.values())
    assert read_ranges(with_ranges(calibrated, ranges)) == ranges
    (tmp_path / "calibrated.tflite").write_bytes(calibrated)
    np.save(tmp_path / "images.npy", images)
    code = (
        "import sys, json, numpy as np\n"
        "from shufflenet.export.formats.tflite_calibration import reference_ranges, ranged_tensors\n"
        "m = open(sys.argv[1], 'rb').read()\n"
        "r = reference_ranges(m, np.load(sys.argv[2]), ranged_tensors(m))\n"
        "print(json.dumps(sorted(r.items())))\n"
    )
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "OMP_NUM_THREADS": "1",
           "OPENBLAS_CORETYPE": "Sandybridge", "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}  # fmt: skip
    args = [sys.executable, "-c", code, str(tmp_path / "calibrated.tflite"), str(tmp_path / "images.npy")]
    res = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    again = {int(i): tuple(v) for i, v in json.loads(res.stdout.splitlines()[-1])}
    assert again == ranges
    one = hashlib.sha256(calibrate_and_quantize(calibrated, images)).hexdigest()
    assert hashlib.sha256(calibrate_and_quantize(calibrated, images)).hexdigest() == one


def test_a_core_ml_package_converted_again_has_the_same_bytes(small_export: ExportResult, tmp_path: Path) -> None:
    """coremltools names a package's items with random UUIDs; the export derives them from the item paths, so a
    second conversion of the same model (here, in this process, after the session's export in another) gives
    the package the manifest lists, byte for byte."""
    from shufflenet.export.formats.coreml_export import convert_coreml, torch_program
    from shufflenet.export.parity import rebuild_reference
    from shufflenet.model.files import sha256_path

    m = json.loads((small_export.output / "manifest.json").read_text())
    ref = rebuild_reference(m, small_export.output)
    entry = next(e for e in m["artifacts"] if e["format"] == "coreml" and e["precision"] == "fp32"
                 and e["variant"] == "tensor")  # fmt: skip
    size = tuple(m["input_size"])
    program = torch_program(ref.model, size, ref.prep, "tensor")
    path = convert_coreml(program, size, ref.prep, m["classes"], "fp32", "tensor", tmp_path / "again.mlpackage")
    assert sha256_path(path) == entry["sha256"]
