"""Core ML ``.mlpackage`` files: the NumPy ML Program evaluator on any OS (``coreml_eval``), Core ML itself on
macOS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.runtimes.base import Runner
from shufflenet.model.preprocessing import Preprocessing


class CoremlRunner(Runner):
    """The NumPy ML Program evaluator (any OS); ``CoremlMacRunner`` uses Core ML itself on macOS."""

    evaluated_by = "coreml-numpy"

    def __init__(self, path: Path, entry: dict[str, Any], prep: Preprocessing, threads: int = 1) -> None:
        super().__init__(path, entry, prep)
        from shufflenet.export.runtimes import coreml_eval

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
