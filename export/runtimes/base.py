"""The one interface every runtime implements: a ``Runner`` runs an exported file from its manifest entry.

Every runner takes resized and centre-cropped uint8 RGB images (N x H x W x 3) and applies the file's own
declared preprocessing, layout, dtype and quantisation, so a wrong manifest shows up as a parity failure. Each
runtime is one module of this package (``onnx_runtime``, ``litert``, ``litert_arm64``, ``coreml``, ``qnn_htp``);
``loader.load_runner`` picks the one for a manifest entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.model.preprocessing import Preprocessing, normalize_hwc


class RuntimeUnavailableError(RuntimeError):
    pass


def quantize(x: np.ndarray, q: dict[str, float], dtype: str) -> np.ndarray:
    """float -> integer with round-half-up, the rule the Android app's Java code uses as well."""
    info = np.iinfo(dtype)
    return np.clip(np.floor(x / q["scale"] + 0.5) + q["zero_point"], info.min, info.max).astype(dtype)


def dequantize(x: np.ndarray, q: dict[str, float] | None) -> np.ndarray:
    if q is None:
        return x.astype(np.float32)
    return ((x.astype(np.float32) - q["zero_point"]) * q["scale"]).astype(np.float32)


class Runner:
    """Base: subclasses implement ``run_raw`` on one input already in the file's layout and dtype."""

    evaluated_by = "?"

    def __init__(self, path: Path, entry: dict[str, Any], prep: Preprocessing) -> None:
        self.path = path
        self.entry = entry
        self.prep = prep
        self.input = entry["inputs"][0]
        self.output = entry["outputs"][0]
        self.output_kind = entry.get("output_kind", "logits")

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB N x H x W x 3 -> the file's input (layout, dtype, quantisation)."""
        exp = self.input["shape"]
        h, w = (exp[1], exp[2]) if self.input["layout"] == "NHWC" else (exp[2], exp[3])
        if images.shape[1:3] != (h, w):
            raise ValueError(
                f"{self.path.name} expects {h}x{w} inputs but got {images.shape[1]}x{images.shape[2]}; "
                "the manifest and the file disagree"
            )
        if self.input.get("kind") == "image":
            x = images[..., ::-1] if self.prep.colour_order == "BGR" else images
            x = x.astype(np.float32)
        else:
            x = normalize_hwc(images, self.prep)
        if self.input["layout"] == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        if self.input.get("quantization"):
            return quantize(x, self.input["quantization"], self.input["dtype"])
        return np.ascontiguousarray(x, dtype=np.float32)

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_raw(self, images: np.ndarray) -> np.ndarray:
        """The file's own outputs (its dtype, still quantised), N x classes."""
        x = self.prepare(images)
        outs = [self.run_raw(x[i : i + 1]) for i in range(len(x))]
        return np.concatenate(outs).reshape(len(x), -1)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Logits (or probabilities, for image classifiers: see ``output_kind``) as float32, N x classes."""
        return dequantize(self.predict_raw(images), self.output.get("quantization"))
