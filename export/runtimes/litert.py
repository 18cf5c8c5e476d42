"""The LiteRT interpreter on this host (x86 kernels, the default XNNPACK delegate) running a .tflite file, and
which arithmetic LiteRT applies to a file: a file whose ``reduced_precision_support`` metadata allows float16
arithmetic is computed in float16 only by XNNPACK on ARM cores with the FP16 extension (ARMv8.2); everywhere else,
x86 included, in float32."""

from __future__ import annotations

import platform
from dataclasses import dataclass
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


REDUCED_PRECISION_KEY = "reduced_precision_support"


def reduced_precision_support(path: Path) -> str | None:
    """The file's ``reduced_precision_support`` metadata, e.g. ``fp16accfp16`` (TensorFlow's converter with float16
    accumulation allowed) or ``fp16accfp32`` (float16 weights only); None when the file has none. Read from the
    flatbuffer itself, without an interpreter."""
    from ai_edge_litert import schema_py_generated as schema

    buf = Path(path).read_bytes()
    model = schema.Model.GetRootAsModel(buf, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() is not None and entry.Name().decode() == REDUCED_PRECISION_KEY:
            data = model.Buffers(entry.Buffer())
            return bytes(data.DataAsNumpy()).decode(errors="replace") if data.DataLength() else ""
    return None


def allows_fp16_arithmetic(metadata: str | None) -> bool:
    """XNNPACK's own rule for the metadata: float16 inference AND float16 accumulation allowed (``fp16accfp16``;
    ``fp16accfp32``, what float16 weights alone write, keeps float32 arithmetic). The string lists the inference
    types before ``acc`` and the accumulation types after it."""
    if not metadata:
        return False
    inference, sep, accumulation = metadata.partition("acc")
    return bool(sep) and "fp16" in inference and "fp16" in accumulation


def cpu_has_fp16_arithmetic(features: str) -> bool:
    """Whether an arm64 CPU with these Linux hwcaps (``/proc/cpuinfo`` ``Features``, the auxiliary vector's names)
    has the ARMv8.2 half-precision arithmetic XNNPACK requires: scalar (``fphp``) and vector (``asimdhp``)."""
    names = set(features.split())
    return {"fphp", "asimdhp"} <= names


@dataclass
class HostArithmetic:
    """Which arithmetic this host's LiteRT applies to a file that allows float16 arithmetic, and why."""

    arithmetic: str  # "fp16" or "fp32"
    reason: str


def host_arithmetic() -> HostArithmetic:
    """This machine's answer: x86 never computes in float16 (XNNPACK's float16 path is for ARM FP16 cores only;
    on x86 it would only simulate it when forced); an arm64 Linux host does when its CPU lists fphp and asimdhp."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i386", "i686", "x86"):
        return HostArithmetic("fp32", "x86 LiteRT computes it in float32 (XNNPACK uses float16 arithmetic only on "
                                      "ARM cores with FP16)")  # fmt: skip
    if machine in ("aarch64", "arm64"):
        try:
            text = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            if platform.system() == "Darwin":  # every Apple Silicon core has FP16 arithmetic
                return HostArithmetic("fp16", "Apple Silicon computes it in float16")
            return HostArithmetic("fp32", "this arm64 host's CPU features are unknown; assumed float32")
        features = next((ln.partition(":")[2] for ln in text.splitlines() if ln.startswith("Features")), "")
        if cpu_has_fp16_arithmetic(features):
            return HostArithmetic("fp16", "this arm64 CPU has FP16 arithmetic (fphp, asimdhp)")
        return HostArithmetic("fp32", "this arm64 CPU has no FP16 arithmetic (no fphp/asimdhp): float32")
    return HostArithmetic("fp32", f"a {platform.machine()} host: float32")


class TfliteRunner(Runner):
    """A .tflite file on this host's LiteRT. ``arithmetic`` says what the host computes the file in: a file that
    allows float16 arithmetic is computed in float32 here on x86, and ``evaluated_by`` says so in every report."""

    def __init__(self, path: Path, entry: dict[str, Any], prep: Preprocessing, threads: int = 1) -> None:
        super().__init__(path, entry, prep)
        self.interp = check_tflite_file(path, threads)  # a damaged file stops here, in one line
        self.fp16_allowed = allows_fp16_arithmetic(reduced_precision_support(path))
        self.arithmetic = host_arithmetic() if self.fp16_allowed else None
        self.interp.allocate_tensors()
        self.in_detail = self.interp.get_input_details()[0]
        self.out_detail = self.interp.get_output_details()[0]

    @property
    def host_evaluated_by(self) -> str:
        """``litert``, or ``litert (fp32 arithmetic on x86_64)`` for a file that allows float16 arithmetic."""
        if self.arithmetic is None:
            return "litert"
        return f"litert ({self.arithmetic.arithmetic} arithmetic on {platform.machine()})"

    @property
    def evaluated_by(self) -> str:  # type: ignore[override]
        return self.host_evaluated_by

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        self.interp.set_tensor(self.in_detail["index"], x)
        self.interp.invoke()
        return self.interp.get_tensor(self.out_detail["index"]).copy()
