"""The default bars and sizes of a parity check: a light module, so that ``shufflenet-parity`` can build its
arguments and check them before torch, TensorFlow or the runtimes load."""

from __future__ import annotations

import math

PRECISIONS = ("fp32", "fp16", "fp16-arith", "int8")
# PSNR bars of the float files. fp16-arith (the float16-arithmetic .tflite file) is judged like the other float16
# files where it really computes in float16 (emulated Cortex-A76 and `max`: about 60-70 dB on the default); on x86 it
# computes in float32. An int8 file is judged in its own quantized steps instead (below); a PSNR bar for it applies
# only when one is asked for (--min-psnr-int8): the PSNR of a few images swings by several dB with how large their
# logits happen to be (the default's int8 file: 13 to 35 dB on single photos, 22 to 35 dB on six).
DEFAULT_MIN_PSNR: dict[str, float | None] = {"fp32": 80.0, "fp16": 45.0, "fp16-arith": 45.0, "int8": None}
DEFAULT_MIN_TOP1 = {"fp32": 1.0, "fp16": 0.0, "fp16-arith": 0.0, "int8": 0.0}
# A PSNR bar is lowered by PSNR_FEW_IMAGES_DB / sqrt(images): PSNR takes its peak from the images' largest logit, and
# one unconfident photo has a small one (the default's Core ML fp16 file: 61 dB over 40 photos, 43 dB on one of them).
PSNR_FEW_IMAGES_DB = 12.0
# int8 outputs: the RMS difference from PyTorch, in the file's own output quantization steps, at most
# DEFAULT_INT8_MAX_RMS_STEPS * (1 + INT8_FEW_IMAGES / sqrt(images)). The default's int8 file: 2.5 to 5.8 steps over
# 96 to 300 images, up to 18 on a single image; files with a layer's weights scaled by 2 or 0.5, negated, or
# calibrated on one black image: 22 to 160 over the same sets. The bar widens for few images because one image has
# only as many outputs as classes, and their RMS is a sample of the file's error, not the error itself.
DEFAULT_INT8_MAX_RMS_STEPS = 8.0
INT8_FEW_IMAGES = 3.0
INT8_FLOAT_OUTPUT_MIN_PSNR = 30.0  # an int8 file with float outputs (none is exported here) has no steps to count in
DEFAULT_IMAGE_LIMIT = 100
DEFAULT_MAX_DROP_DB = 10.0  # --per-layer: an op losing this much PSNR is where int8 error enters
# A file compiled for an NPU against the CPU .tflite it came from, on the same inputs (emulated NPU): int8 outputs
# within this many quantized steps (largest difference), float outputs within this fraction of the largest CPU output.
# None: an int8 NPU file may differ from its CPU file by twice the int8 bar in RMS steps: the most two files that
# each pass the bar can differ (the HTP requantises with its own rounding at every layer, so the two int8 files are
# independent approximations of the float network).
DEFAULT_NPU_MAX_STEPS: int | None = None
DEFAULT_NPU_MAX_REL = 0.02


def int8_rms_bar(max_rms_steps: float, images: int) -> float:
    """The RMS bar, in quantized steps, of an int8 file judged on ``images`` images."""
    return max_rms_steps * (1.0 + INT8_FEW_IMAGES / math.sqrt(max(1, images)))


def psnr_bar(min_psnr_db: float, images: int) -> float:
    """The PSNR bar, in dB, of a float file judged on ``images`` images."""
    return min_psnr_db - PSNR_FEW_IMAGES_DB / math.sqrt(max(1, images))
