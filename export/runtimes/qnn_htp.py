"""Qualcomm's HTP emulator: a compiled Qualcomm NPU .tflite run on this machine through ONNX Runtime's QNN
execution provider.

The x86 LiteRT wheel has no Qualcomm dispatch runtime, so a compiled file does not run in LiteRT here. ONNX
Runtime's QNN execution provider (the ``onnxruntime-qnn`` wheel, HTP backend; on x86 it emulates the HTP) runs the
context binary when it is cut out of the .tflite and wrapped in an ONNX ``EPContext`` node; CPU fallback is
disabled, so nothing of the graph can silently run elsewhere. Emulation time is never a phone's latency. The
compile side is ``shufflenet.export.formats.npu_qualcomm``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.export.runtimes.base import Runner, RuntimeUnavailableError

INSTALL_HINT = "pip install 'shufflenet-mobile[npu]'"
EP_NAME = "QNNExecutionProvider"


class NpuUnavailable(RuntimeUnavailableError):
    """The QNN libraries, LiteRT's compiler or patchelf are missing; one line naming the install command."""


def package_dir(name: str) -> Path | None:
    spec = util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def qnn_lib_dir() -> Path:
    """The folder of the QNN x86-64 libraries (the ``onnxruntime-qnn`` wheel's package folder)."""
    d = package_dir("onnxruntime_qnn")
    if d is None or not (d / "libQnnHtp.so").is_file():
        raise NpuUnavailable(f"the Qualcomm NPU needs the QNN libraries of onnxruntime-qnn; run `{INSTALL_HINT}`")
    return d


# ------------------------------------------------------------------------------------------- the .tflite file


@dataclass
class NpuGraph:
    """What a compiled .tflite holds: its signature, op histogram and (one DISPATCH_OP) the context binary."""

    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    op_histogram: dict[str, int]
    dispatch: list[dict[str, Any]]  # per DISPATCH_OP: name, bytecode_offset, bytecode_size


_TFL_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 9: "int8"}


def has_dispatch_op(path: Path) -> bool:
    """Whether a .tflite file holds a ``DISPATCH_OP`` (compiled ahead of time for an NPU): its operator codes read
    straight from the flatbuffer, without copying the model."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    return any(model.OperatorCodes(i).CustomCode() == b"DISPATCH_OP" for i in range(model.OperatorCodesLength()))


def read_tflite(path: Path) -> NpuGraph:
    """Read a .tflite flatbuffer without an interpreter (the x86 LiteRT cannot prepare a ``DISPATCH_OP``)."""
    from ai_edge_litert import schema_py_generated as schema
    from flatbuffers import flexbuffers

    buf = Path(path).read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
    names = {}
    for i, c in enumerate(model.operatorCodes):
        code = max(c.builtinCode, c.deprecatedBuiltinCode)
        names[i] = c.customCode.decode() if c.customCode else _builtin_name(schema, code)
    sg = model.subgraphs[0]
    hist: dict[str, int] = {}
    dispatch = []
    for op in sg.operators:
        name = names[op.opcodeIndex]
        hist[name] = hist.get(name, 0) + 1
        if name == "DISPATCH_OP" and op.customOptions is not None:
            dispatch.append(dict(flexbuffers.Loads(bytes(op.customOptions))))

    def io(index: int) -> dict[str, Any]:
        t = sg.tensors[index]
        q = t.quantization
        scale = q.scale if q is not None and q.scale is not None else None
        quant = ({"scale": float(scale[0]), "zero_point": int(q.zeroPoint[0])} if scale is not None and len(scale)
                 else None)  # fmt: skip
        return {"name": t.name.decode(), "shape": [int(s) for s in t.shape],
                "dtype": _TFL_TYPES.get(t.type, str(t.type)), "quantization": quant}  # fmt: skip

    return NpuGraph([io(i) for i in sg.inputs], [io(i) for i in sg.outputs], dict(sorted(hist.items())), dispatch)


def _builtin_name(schema: Any, code: int) -> str:
    for k, v in vars(schema.BuiltinOperator).items():
        if v == code and not k.startswith("_"):
            return k
    return str(code)


def context_binary(path: Path) -> tuple[str, bytes, NpuGraph]:
    """The QNN context binary a compiled .tflite carries, with its graph's name; only for a file whose whole graph
    is one ``DISPATCH_OP``."""
    graph = read_tflite(path)
    if list(graph.op_histogram) != ["DISPATCH_OP"] or len(graph.dispatch) != 1:
        on_cpu = {k: v for k, v in graph.op_histogram.items() if k != "DISPATCH_OP"}
        raise RuntimeUnavailableError(
            f"{Path(path).name} is not one NPU graph (ops outside it: "
            f"{', '.join(f'{k} x{v}' for k, v in on_cpu.items()) or 'none'}); the HTP emulator runs whole-NPU files"
        )
    d = graph.dispatch[0]
    with open(path, "rb") as f:
        f.seek(int(d["bytecode_offset"]))
        blob = f.read(int(d["bytecode_size"]))
    if len(blob) != int(d["bytecode_size"]):
        raise RuntimeUnavailableError(f"{Path(path).name} is truncated (its NPU bytecode ends past the file)")
    return str(d["name"]), blob, graph


def epcontext_model(path: Path) -> bytes:
    """An ONNX model of one ``com.microsoft:EPContext`` node holding the file's context binary (embedded), with the
    .tflite's own input and output names, types and shapes (the QNN graph's tensors carry the same names)."""
    from onnx import TensorProto, helper

    types = {"int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "float32": TensorProto.FLOAT,
             "float16": TensorProto.FLOAT16, "int32": TensorProto.INT32}  # fmt: skip
    name, blob, graph = context_binary(path)
    node = helper.make_node("EPContext", [d["name"] for d in graph.inputs], [d["name"] for d in graph.outputs],
                            name=name, domain="com.microsoft", main_context=1, embed_mode=1, ep_cache_context=blob,
                            source="QNN", partition_name=name)  # fmt: skip

    def vi(d: dict[str, Any]) -> Any:
        return helper.make_tensor_value_info(d["name"], types[d["dtype"]], d["shape"])

    g = helper.make_graph([node], name, [vi(d) for d in graph.inputs], [vi(d) for d in graph.outputs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 10
    return m.SerializeToString()


# ------------------------------------------------------------------------------------------- the HTP emulator


def qnn_ep_devices() -> list[Any]:
    """ONNX Runtime's devices of the QNN execution provider (its plugin library registered once per process)."""
    import onnxruntime as ort

    libs = qnn_lib_dir()
    if not any(d.ep_name == EP_NAME for d in ort.get_ep_devices()):
        ort.register_execution_provider_library(EP_NAME, str(libs / "libonnxruntime_providers_qnn.so"))
    devices = [d for d in ort.get_ep_devices() if d.ep_name == EP_NAME]
    if not devices:
        raise NpuUnavailable(f"ONNX Runtime lists no QNN device; reinstall with `{INSTALL_HINT}`")
    return devices


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """The QNN libraries print a line on file descriptor 1 when they start; it goes where library output goes
    (descriptor 2: the command's log file), not into a command's own output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def htp_session(path: Path, threads: int = 1) -> Any:
    """An ONNX Runtime session running a compiled .tflite's context binary on the QNN HTP backend (on x86: the HTP
    emulator), CPU fallback disabled."""
    import onnxruntime as ort

    model = epcontext_model(path)
    with _stdout_to_stderr():
        devices = qnn_ep_devices()
        opts = ort.SessionOptions()
        opts.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.add_provider_for_devices(devices, {"backend_path": str(qnn_lib_dir() / "libQnnHtp.so")})
        try:
            return ort.InferenceSession(model, opts)
        except Exception as e:  # onnxruntime's own exception types
            raise RuntimeUnavailableError(f"the QNN HTP emulator refused {Path(path).name}: {e}") from None


class QnnHtpRunner(Runner):
    """A compiled Qualcomm NPU file on the QNN HTP emulator (``htp_session``)."""

    def __init__(self, path: Path, entry: dict[str, Any], prep: Any, threads: int = 1) -> None:
        super().__init__(path, entry, prep)
        npu = entry.get("npu") or {}
        self.soc = npu.get("soc", "?")
        self.evaluated_by = f"qnn-htp-emulator ({self.soc})"
        self.session = htp_session(path, threads)
        self.in_name = self.session.get_inputs()[0].name
        self.graph = read_tflite(path)

    def signature(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return self.graph.inputs, self.graph.outputs

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.in_name: x})[0]
