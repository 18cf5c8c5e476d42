"""Run any exported file from its manifest entry: ONNX Runtime, the LiteRT interpreter, or Core ML.

Every runner takes resized and centre-cropped uint8 RGB images (N x H x W x 3) and applies the file's own
declared preprocessing, layout, dtype and quantisation, so a wrong manifest shows up as a parity failure.
Core ML files run through the NumPy ML Program evaluator on Linux (``coreml_eval``); on macOS Core ML's own
runtime is available as well.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.model.preprocessing import Preprocessing, normalize_hwc

log = logging.getLogger(__name__)


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


class OnnxRunner(Runner):
    evaluated_by = "onnxruntime"

    def __init__(self, path: Path, entry: dict[str, Any], prep: Preprocessing, threads: int = 1) -> None:
        super().__init__(path, entry, prep)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.in_name = self.session.get_inputs()[0].name

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.in_name: x})[0]


class TfliteFileError(ValueError):
    """A file that LiteRT cannot load as a model: not a .tflite file, or a truncated or damaged one."""


TFLITE_IDENTIFIER = b"TFL3"  # the flatbuffer file identifier, bytes 4-8 of every .tflite file


def check_tflite_file(path: Path, threads: int = 1) -> Any:
    """LiteRT's interpreter of ``path`` (the default XNNPACK delegate, tensors not yet allocated), or a
    ``TfliteFileError`` naming the file and what is wrong with it: not a TFLite model at all (an .onnx file, a
    text file), or one LiteRT's flatbuffer verifier rejects (truncated, damaged)."""
    from ai_edge_litert.interpreter import Interpreter

    path = Path(path)
    with open(path, "rb") as f:  # OSError (missing, unreadable) names the path itself
        head = f.read(8)
    if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
        raise TfliteFileError(
            f"{path} is not a TFLite model (no {TFLITE_IDENTIFIER.decode()} flatbuffer identifier); pass a .tflite "
            "file written by shufflenet-export"
        )
    try:
        return Interpreter(model_path=str(path), num_threads=threads)
    except (ValueError, RuntimeError) as e:
        reason = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise TfliteFileError(
            f"{path} is not a loadable TFLite model, truncated or damaged ({path.stat().st_size} bytes; LiteRT: "
            f"{reason}); export it again"
        ) from None


class TfliteRunner(Runner):
    evaluated_by = "litert"

    def __init__(self, path: Path, entry: dict[str, Any], prep: Preprocessing, threads: int = 1) -> None:
        super().__init__(path, entry, prep)
        self.interp = check_tflite_file(path, threads)
        self.interp.allocate_tensors()
        self.in_detail = self.interp.get_input_details()[0]
        self.out_detail = self.interp.get_output_details()[0]

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        self.interp.set_tensor(self.in_detail["index"], x)
        self.interp.invoke()
        return self.interp.get_tensor(self.out_detail["index"]).copy()


class CoremlRunner(Runner):
    """The NumPy ML Program evaluator (any OS); ``CoremlMacRunner`` uses Core ML itself on macOS."""

    evaluated_by = "coreml-numpy"

    def __init__(self, path: Path, entry: dict[str, Any], prep: Preprocessing, threads: int = 1) -> None:
        super().__init__(path, entry, prep)
        from . import coreml_eval

        self.program = coreml_eval.load_program(path)
        self._eval = coreml_eval

    def _pick(self, outs: dict[str, np.ndarray]) -> np.ndarray:
        classes = self.entry.get("num_classes")
        arrays = [v for v in outs.values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
        for v in arrays:
            if classes is None or v.size == classes:
                return v.astype(np.float32)
        raise ValueError(f"{self.path.name} produced no {classes}-class output (got {list(outs)})")

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        feed = {self.input["name"]: x}
        if hasattr(self._eval, "evaluate_program"):
            outs = self._eval.evaluate_program(self.program, feed)
        else:
            outs = self._eval.evaluate_mlpackage(self.path, feed)
        return self._pick(outs)


class CoremlMacRunner(CoremlRunner):
    evaluated_by = "coreml-macos"

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        return self._pick(self._eval.predict_macos(self.path, {self.input["name"]: x}))
