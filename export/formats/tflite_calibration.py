"""Full-integer calibration that writes the same int8 file on every x86-64 host.

TensorFlow's converter calibrates by running the float model through the TFLite kernels built into TensorFlow and
recording each activation tensor's min and max. Those kernels are optimised: how their float sums are ordered
depends on the host (vector width, FMA, cache-sized blocks), so the ranges differ in their last bits from one CPU
to another. An int8 file is a chaotic function of its ranges: ranges 5e-7 apart (relative) gave files whose outputs
differed by up to 9 quantized steps on 15 % of the values, and 31.27 to 31.51 dB against PyTorch on the same 96
photos. The same commit then wrote a different int8 file on each kind of host.

Here the converter only lays the calibration out (which tensors get a range; it runs one image for that) and the
ranges are measured again with LiteRT's reference kernels: plain loops compiled into the wheel, one thread, no
run-time choice of instructions, so the same images give the same ranges, bit for bit, on any x86-64 CPU. The
quantizer (TensorFlow's MLIR quantizer, the converter's own) then turns the same ranges into the same bytes.

The ranges are each tensor's true min and max over the images. TensorFlow's calibrator also widens the range of an
ADD input that the ADD overwrites in place (it logs the input after the op ran); the reference kernels keep every
tensor, so that widening is gone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# What the manifest says about how the int8 ranges were measured (``calibration.ranges``).
RANGES_BY = "litert-reference-kernels"


class CalibrationRangeError(ValueError):
    """A calibration image drove an activation to inf or NaN: no range can be set."""


def layout_dataset(images: np.ndarray) -> Any:
    """The representative dataset the converter runs to lay the calibration out: the first image only (its
    ranges are replaced by ``reference_ranges`` over all of them)."""

    def gen() -> Any:
        yield [np.asarray(images[:1], np.float32)]

    return gen


def ranged_tensors(model: bytes) -> list[int]:
    """Indices of the tensors of the (calibrated float) model that carry a min/max range."""
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(model)
    out = []
    for i, t in enumerate(m.subgraphs[0].tensors):
        q = t.quantization
        if q is not None and q.min is not None and len(q.min):
            out.append(i)
    return out


def reference_ranges(model: bytes, images: np.ndarray, tensors: list[int]) -> dict[int, tuple[float, float]]:
    """Min and max of each of ``tensors`` over ``images`` (N x H x W x C float32), the float model run with
    LiteRT's reference kernels on one thread, every intermediate tensor kept."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=bytes(model),
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
        num_threads=1,
    )
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    lo = {i: np.float32(np.inf) for i in tensors}
    hi = {i: np.float32(-np.inf) for i in tensors}
    for x in images:
        interp.set_tensor(inp, np.asarray(x, np.float32)[None])
        interp.invoke()
        for i in tensors:
            v = interp.get_tensor(i)
            if not np.isfinite(v).all():
                name = next(t["name"] for t in interp.get_tensor_details() if t["index"] == i)
                raise CalibrationRangeError(
                    f"a calibration image drives tensor {name} to inf or NaN; the model's weights are unusable "
                    "for int8 (retrain or check the checkpoint)"
                )
            lo[i] = min(lo[i], v.min())
            hi[i] = max(hi[i], v.max())
    # + 0.0 makes a -0.0 (which of -0.0 and 0.0 a vectorised min returns depends on its order) a 0.0
    return {i: (float(lo[i]) + 0.0, float(hi[i]) + 0.0) for i in tensors}


def with_ranges(model: bytes, ranges: dict[int, tuple[float, float]]) -> bytes:
    """The model with each tensor's min/max replaced by ``ranges``."""
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(model)
    tensors = m.subgraphs[0].tensors
    for i, (lo, hi) in ranges.items():
        q = tensors[i].quantization
        q.min = [float(np.float32(lo))]
        q.max = [float(np.float32(hi))]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def read_ranges(model: bytes) -> dict[int, tuple[float, float]]:
    """Each ranged tensor's min/max as the (calibrated float) model holds them."""
    from tensorflow.lite.tools import flatbuffer_utils

    tensors = flatbuffer_utils.convert_bytearray_to_object(model).subgraphs[0].tensors
    return {i: (float(tensors[i].quantization.min[0]), float(tensors[i].quantization.max[0]))
            for i in ranged_tensors(model)}  # fmt: skip


def quantize_full_integer(calibrated: bytes) -> bytes:
    """What the converter does after calibrating, for int8 input and output with per-channel weights: TensorFlow's
    MLIR quantizer, then its deduplication of read-only buffers."""
    import tensorflow as tf
    from tensorflow.lite.python import convert

    data = convert.mlir_quantize(
        bytes(calibrated), disable_per_channel=False, input_data_type=tf.int8, output_data_type=tf.int8
    )
    return bytes(convert.deduplicate_readonly_buffers(data))


def calibrate_and_quantize(calibrated: bytes, images: np.ndarray) -> bytes:
    """The int8 file from the converter's calibrated float model: ranges measured again with the reference
    kernels over ``images``, then quantized."""
    ranges = reference_ranges(calibrated, images, ranged_tensors(calibrated))
    return quantize_full_integer(with_ranges(calibrated, ranges))
