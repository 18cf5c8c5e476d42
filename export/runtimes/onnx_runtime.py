"""ONNX Runtime (CPU execution provider) running an exported .onnx file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.runtimes.base import Runner
from shufflenet.model.preprocessing import Preprocessing


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
