"""The default bars and sizes of a parity check: a light module, so that ``shufflenet-parity`` can build its
arguments and check them before torch, TensorFlow or the runtimes load."""

from __future__ import annotations

PRECISIONS = ("fp32", "fp16", "fp16-arith", "int8")
# fp16-arith: the float16-arithmetic .tflite file, judged like the other float16 files where it really computes in
# float16 (emulated Cortex-A76 and `max`: about 60-70 dB on the default); on x86 it computes in float32.
DEFAULT_MIN_PSNR = {"fp32": 80.0, "fp16": 45.0, "fp16-arith": 45.0, "int8": 30.0}
DEFAULT_MIN_TOP1 = {"fp32": 1.0, "fp16": 0.0, "fp16-arith": 0.0, "int8": 0.0}
DEFAULT_IMAGE_LIMIT = 100
DEFAULT_MAX_DROP_DB = 10.0  # --per-layer: an op losing this much PSNR is where int8 error enters
# A file compiled for an NPU against the CPU .tflite it came from, on the same inputs (emulated NPU): int8 outputs
# within this many quantized steps, float outputs within this fraction of the largest CPU output.
# None: an int8 NPU file may differ from its CPU file by twice the quantized steps the CPU file differs from
# PyTorch: the most two files each as close to PyTorch as the CPU one can differ (the HTP requantises with its own
# rounding at every layer, so the two int8 files are independent approximations of the float network).
DEFAULT_NPU_MAX_STEPS: int | None = None
DEFAULT_NPU_MAX_REL = 0.02
