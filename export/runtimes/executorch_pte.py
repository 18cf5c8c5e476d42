"""The ``executorch`` runtime: a ``.pte`` file run by ExecuTorch's own C++ runtime through its Python bindings
(``executorch.runtime``), with the XNNPACK delegate the file was lowered to.

Threads: ExecuTorch has one process-wide thread pool, and the only way to size it from Python is the experimental
``portable_lib._unsafe_reset_threadpool(n)``. Resetting it while a loaded method still holds the old pool crashes
the process (seen with 1.5.1: a segmentation fault on the next ``execute``), so a runner resets the pool only when
no other ``.pte`` method is alive in the process, and refuses (one line) a thread count that differs from the live
runners' one. With one thread XNNPACK runs on the calling thread, so ``--clock cpu`` times it like LiteRT.

The file's own view of itself is read back here too: its input and output tensors (``MethodMeta``) and which
instructions its plan executes (``pte_delegate_calls``: delegate calls and portable kernel calls, from the
serialised program), so parity and the benchmarks check the file, not what the export said about it.
"""

from __future__ import annotations

import gc
import logging
import weakref
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.runtimes.base import Runner, RuntimeUnavailableError
from shufflenet.model.preprocessing import Preprocessing

log = logging.getLogger(__name__)

INSTALL = "`pip install 'shufflenet-mobile[executorch]'` (hash-locked in requirements-executorch.lock; `make install`)"
PTE_MAGIC = b"ET"  # bytes 4-6 of every .pte file: the flatbuffer identifier "ET12" and later
_LIVE: weakref.WeakSet[ExecutorchRunner] = weakref.WeakSet()
_DTYPES = {"Float": "float32", "Half": "float16", "Char": "int8", "Byte": "uint8", "Int": "int32", "Long": "int64"}
_SCALAR_TYPES = {0: "Byte", 1: "Char", 3: "Int", 4: "Long", 5: "Half", 6: "Float"}  # c10::ScalarType codes


class PteFileError(ValueError):
    """A file that ExecuTorch cannot load as a program: not a .pte file, or a truncated or damaged one."""


def executorch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("executorch") is not None


def _portable_lib() -> Any:
    if not executorch_available():
        raise RuntimeUnavailableError(f"ExecuTorch is not installed; run {INSTALL}")
    import warnings

    with warnings.catch_warnings():  # "This API is experimental", on every import
        warnings.simplefilter("ignore")
        from executorch.extension.pybindings import portable_lib
    return portable_lib


def set_threads(threads: int) -> None:
    """Size ExecuTorch's process-wide thread pool, when no loaded method holds it (see the module docstring)."""
    pl = _portable_lib()
    if pl._threadpool_get_thread_count() == threads:
        return
    gc.collect()  # runners dropped but still in a reference cycle
    live = {r.threads for r in _LIVE}
    if live:
        raise RuntimeUnavailableError(
            f"ExecuTorch's thread pool is process-wide and {len(_LIVE)} .pte file(s) are loaded at "
            f"{'/'.join(map(str, sorted(live)))} thread(s); a .pte file cannot run at {threads} in the same process "
            "until they are released"
        )
    pl._unsafe_reset_threadpool(threads)


def load_method(path: Path) -> Any:
    """ExecuTorch's ``forward`` method of the .pte file, or ``PteFileError`` naming what is wrong with the file."""
    path = Path(path)
    with open(path, "rb") as f:  # OSError (missing, unreadable) names the path itself
        head = f.read(8)
    if len(head) < 8 or head[4:6] != PTE_MAGIC:
        raise PteFileError(f"{path} is not an ExecuTorch program (no ET flatbuffer identifier); pass a .pte file "
                           "written by shufflenet-export")  # fmt: skip
    _portable_lib()
    from executorch.runtime import Runtime

    try:
        program = Runtime.get().load_program(path)
        return program.load_method("forward")
    except (RuntimeError, ValueError) as e:
        reason = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise PteFileError(
            f"{path} is not a loadable ExecuTorch program, truncated or damaged ({path.stat().st_size} bytes; "
            f"ExecuTorch: {reason}); export it again"
        ) from None


def _io(meta: Any, name: str, layout: str) -> dict[str, Any]:
    code = meta.dtype()  # an int (c10::ScalarType) from the 1.5.1 bindings, an enum in others
    dtype = _SCALAR_TYPES.get(code, str(code)) if isinstance(code, int) else str(code).rsplit(".", 1)[-1]
    return {"name": name, "shape": [int(s) for s in meta.sizes()], "dtype": _DTYPES.get(dtype, dtype),
            "layout": layout, "quantization": None}  # fmt: skip


def pte_io(method: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The inputs and outputs the loaded method declares, in manifest terms (a .pte names no tensors: the
    manifest's ``input``/``logits`` are kept; shape and dtype are the file's)."""
    m = method.metadata
    ins = [_io(m.input_tensor_meta(i), "input", "NCHW") for i in range(m.num_inputs())]
    outs = [_io(m.output_tensor_meta(i), "logits", "NC") for i in range(m.num_outputs())]
    return ins, outs


def pte_delegate_calls(path: Path) -> dict[str, Any]:
    """What the file's ``forward`` plan executes, read from the serialised program: the delegate calls (with their
    backends) and the portable kernel calls (by operator). One XNNPACK call and no kernel means the whole network
    runs inside one XNNPACK subgraph."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from executorch.exir._serialize._program import deserialize_pte_binary
        from executorch.exir.schema import DelegateCall, KernelCall

    program = deserialize_pte_binary(Path(path).read_bytes()).program
    plan = next(p for p in program.execution_plan if p.name == "forward")
    backends: list[str] = []
    kernels: dict[str, int] = {}
    for chain in plan.chains:
        for ins in chain.instructions:
            arg = ins.instr_args
            if isinstance(arg, DelegateCall):
                backends.append(plan.delegates[arg.delegate_index].id)
            elif isinstance(arg, KernelCall):
                op = plan.operators[arg.op_index]
                name = op.name.split("::")[-1] + (f".{op.overload}" if op.overload else "")
                kernels[name] = kernels.get(name, 0) + 1
    return {"delegate_calls": len(backends), "backends": sorted(set(backends)),
            "kernel_calls": sum(kernels.values()), "kernels": dict(sorted(kernels.items()))}  # fmt: skip


class ExecutorchRunner(Runner):
    evaluated_by = "executorch"
    delegate = "xnnpack"

    def __init__(self, path: Path, entry: dict[str, Any], prep: Preprocessing, threads: int = 1) -> None:
        super().__init__(path, entry, prep)
        self.threads = threads
        set_threads(threads)
        self.method = load_method(path)
        _LIVE.add(self)
        import torch

        self._torch = torch

    def signature(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return pte_io(self.method)

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        out = self.method.execute([self._torch.from_numpy(np.ascontiguousarray(x))])
        return out[0].numpy().copy()
