"""What every format module needs to write its files, and the one way it describes them in the manifest.

Each format module (``onnx_export``, ``tflite_export``, ``coreml_export``) has ``export_entries(ctx, precisions)``:
it writes its files into ``ctx.out_dir`` and returns their manifest entries. Intermediate files (the ONNX graphs a
TFLite conversion starts from, when ONNX itself was not asked for) go to ``ctx.work_dir``, never into the export.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from shufflenet.export.calibration import ImageSet
from shufflenet.model.files import sha256_path, size_bytes
from shufflenet.model.preprocessing import Preprocessing
from shufflenet.model.registry import Variant


@dataclass
class ExportContext:
    model: torch.nn.Module
    variant: Variant
    size: tuple[int, int]
    prep: Preprocessing
    labels: list[str]
    calib_set: ImageSet
    out_dir: Path  # the export folder being built (a temporary folder until everything succeeded)
    work_dir: Path  # scratch space, removed at the end
    dynamic_batch: bool = False
    step: Callable[[str], None] = lambda msg: None  # announces the next numbered step
    step_seconds: dict[str, float] = field(default_factory=dict)
    onnx_paths: dict[str, Path] = field(default_factory=dict)  # "raw"/"simplified": onnx_export.onnx_graphs

    @property
    def arch(self) -> str:
        return self.variant.name

    def timed(self, key: str, started: float) -> None:
        self.step_seconds[key] = time.time() - started


# What a file asks its runtime to compute in (the manifest's ``arithmetic``): float32; float16 where the hardware
# has it (the TFLite float16-arithmetic file on ARM FP16 cores, Core ML fp16 programs, a float graph on an NPU);
# 8-bit integers.
ARITHMETIC = ("fp32", "fp16", "int8")


def manifest_entry(
    fmt: str, precision: str, kind: str, path: Path, runtime: str, *, arithmetic: str, **extra: Any
) -> dict[str, Any]:
    """The fields every manifest entry has; a format adds its own (signature, op histogram, graph checks)."""
    if arithmetic not in ARITHMETIC:
        raise ValueError(f"arithmetic {arithmetic!r} is not one of {', '.join(ARITHMETIC)}")
    return {
        "format": fmt,
        "precision": precision,
        "variant": kind,
        "path": path.name,
        "size_bytes": size_bytes(path),
        "sha256": sha256_path(path),
        "runtime": runtime,
        "arithmetic": arithmetic,
        **extra,
    }
