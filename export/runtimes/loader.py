"""Which runner runs a manifest entry: the one dispatcher over every runtime (``runtime``: ONNX Runtime, LiteRT,
Core ML's NumPy evaluator or its own runtime on macOS; ``arm64``: aarch64 LiteRT under emulation; ``npu_qualcomm``:
a .tflite compiled for a Qualcomm NPU, on Qualcomm's HTP emulator; ``executorch_pte``: a .pte file on ExecuTorch's
runtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shufflenet.export.runtimes.base import Runner, RuntimeUnavailableError
from shufflenet.export.runtimes.coreml import CoremlMacRunner, CoremlRunner
from shufflenet.export.runtimes.litert import TfliteRunner
from shufflenet.export.runtimes.onnx_runtime import OnnxRunner
from shufflenet.model.preprocessing import Preprocessing


def load_runner(
    artifacts_dir: Path,
    entry: dict[str, Any],
    threads: int = 1,
    macos: bool = False,
    runtime: str | None = None,
    cpu: str = "max",
    timeout_s: float | None = None,
) -> Runner:
    """The runner for one manifest entry; ``macos=True`` asks for Core ML's own runtime (macOS only).
    ``runtime="litert-arm64"`` runs a .tflite file on aarch64 LiteRT under emulation of ``cpu`` (``arm64``)."""
    prep = Preprocessing.from_dict(entry.get("preprocessing") or _manifest_prep(artifacts_dir))
    path = Path(artifacts_dir) / entry["path"]
    fmt = entry["format"]
    if runtime == "litert-arm64":
        if fmt != "tflite" or entry.get("npu"):
            what = "compiled for an NPU" if entry.get("npu") else fmt
            raise ValueError(f"{entry['path']} is {what}; the litert-arm64 runtime runs .tflite files only (CPU ones)")
        from shufflenet.export.runtimes.litert_arm64 import Arm64Runner  # its emulator starts only when asked for

        return Arm64Runner(path, entry, prep, threads, cpu=cpu, timeout_s=timeout_s)
    if fmt == "onnx":
        return OnnxRunner(path, entry, prep, threads)
    if fmt == "tflite" and entry.get("npu"):
        from shufflenet.export.runtimes.qnn_htp import QnnHtpRunner  # a compiled Qualcomm NPU file: the HTP emulator

        return QnnHtpRunner(path, entry, prep, threads)
    if fmt == "tflite":
        return TfliteRunner(path, entry, prep, threads)
    if fmt == "executorch":
        from shufflenet.export.runtimes.executorch_pte import INSTALL, ExecutorchRunner, executorch_available

        if not executorch_available():  # a usage problem of this machine: one line naming the fix
            raise ValueError(f"{entry['path']} is an ExecuTorch program and ExecuTorch is not installed; run {INSTALL}")
        return ExecutorchRunner(path, entry, prep, threads)
    if fmt == "coreml":
        if macos:
            from shufflenet.export.runtimes import coreml_eval

            if not coreml_eval.on_macos():
                raise RuntimeUnavailableError("Core ML's own runtime exists only on macOS; use the NumPy evaluator")
            return CoremlMacRunner(path, entry, prep, threads)
        return CoremlRunner(path, entry, prep, threads)
    raise ValueError(f"unknown artifact format {fmt!r} in the manifest")


def _manifest_prep(artifacts_dir: Path) -> dict[str, Any]:
    from shufflenet.export.manifest import read_manifest

    return read_manifest(artifacts_dir)["preprocessing"]
