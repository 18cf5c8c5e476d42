"""The LiteRT interpreter on this host (x86 kernels, the default XNNPACK delegate) running a .tflite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.runtimes.base import Runner
from shufflenet.model.preprocessing import Preprocessing


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
        interp = Interpreter(model_path=str(path), num_threads=threads)
    except (ValueError, RuntimeError) as e:
        reason = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise TfliteFileError(
            f"{path} is not a loadable TFLite model, truncated or damaged ({path.stat().st_size} bytes; LiteRT: "
            f"{reason}); export it again"
        ) from None
    from shufflenet.export.runtimes.qnn_htp import has_dispatch_op

    if has_dispatch_op(path):
        raise TfliteFileError(
            f"{path} is compiled ahead of time for an NPU (a DISPATCH_OP that only the vendor's library on the phone "
            "runs), which LiteRT on this host cannot run; pass the CPU .tflite it was compiled from (the manifest's "
            "npu.compiled_from), or run it on the phone (shufflenet-bench android)"
        )
    return interp


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
