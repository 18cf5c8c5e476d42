"""Qualcomm Snapdragon NPUs (Hexagon HTP): ahead-of-time compiled .tflite files, and running them on Qualcomm's
HTP emulator on this machine.

Compiling. LiteRT's ahead-of-time compiler (``ai_edge_litert.aot.aot_compile``) runs the tool
``ai_edge_litert/tools/apply_plugin_main`` with the Qualcomm compiler plugin
``vendors/qualcomm/compiler/libLiteRtCompilerPlugin_Qualcomm.so``; the plugin hands the graph to Qualcomm's QNN
libraries, which compile it for one SoC into a context binary that the output .tflite carries behind a single
``DISPATCH_OP`` custom op (the ops that the NPU cannot take stay ordinary TFLite ops, run by the phone's CPU). This
module runs the same tool with the same arguments, with three workarounds, all of them here and nowhere else:

1. Where the QNN libraries come from. LiteRT looks for them through the package ``ai-edge-litert-sdk-qualcomm``,
   a source package that downloads Qualcomm's SDK from a vendor site while it builds: offline, pip still reports
   success and the package has no libraries. Qualcomm's own wheel ``onnxruntime-qnn`` carries the QNN x86-64
   libraries (``libQnnHtp.so``, ``libHtpPrepare.so``, ``libQnnSystem.so``, ...); their folder goes on the tool's
   ``LD_LIBRARY_PATH``, which is what ``aot_compile`` does with the SDK package's ``path_to_sdk_libs()``.
2. ``libQnnLpai.so``. The plugin lists it as needed (``DT_NEEDED``) but imports no symbol from it, and the wheel
   does not have it, so the loader would refuse the plugin. The tool loads a copy of the plugin with that one
   entry removed (``patchelf --remove-needed``), made in a private folder for each compile session; the installed
   package's files are never changed.
3. Version skew. The plugin was built against QAIRT 2.50, the wheel has QNN 2.51: the tool warns ("Qnn backend
   library version 5.51.0 is used. The version LiteRT using is 5.50.0.") and compiles; the warnings are kept in
   the manifest entry's ``compiler`` object and the output is checked on the emulator (``shufflenet-parity``).

Running. The x86 LiteRT wheel has no Qualcomm dispatch runtime, so a compiled file does not run in LiteRT here.
ONNX Runtime's QNN execution provider (the same wheel, HTP backend; on x86 it emulates the HTP) runs the context
binary when it is cut out of the .tflite and wrapped in an ONNX ``EPContext`` node; CPU fallback is disabled, so
nothing of the graph can silently run elsewhere. Emulation time is never a phone's latency.

Nothing here reaches the network. Without the libraries, every entry point says in one line to install
``shufflenet-mobile[npu]``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path
from typing import Any

import numpy as np

from .manifest import is_cpu_tflite
from .runtime import Runner, RuntimeUnavailableError

log = logging.getLogger(__name__)

VENDOR = "qualcomm"
INSTALL_HINT = "pip install 'shufflenet-mobile[npu]'"
# The SoCs of LiteRT 2.3.0's Qualcomm target (``ai_edge_litert.aot.vendors.qualcomm.target.SocModel``) and the
# Hexagon HTP architecture of each (what the QNN compiler sets for the SoC; tests check both against the tools).
SOC_HTP_ARCH = {"SA8255": 73, "SA8295": 68, "SM8350": 68, "SM8450": 69, "SM8475": 69, "SM8550": 73, "SM8650": 75,
                "SM8750": 79, "SM8845": 81, "SM8850": 81}  # fmt: skip
# Float graphs go to SoCs whose HTP computes in float16 (v69 on). A v68 SoC compiles a float graph too, but it is not
# trusted: 1.0x g1 CIFAR float32 for SM8350 ran on the emulator 0.13 of the largest output away from the CPU file
# (for SA8295, also v68, 0.0011; for SM8450, v69, 0.0011).
FLOAT_MIN_HTP_ARCH = 69
EP_NAME = "QNNExecutionProvider"
PLUGIN = Path("vendors/qualcomm/compiler/libLiteRtCompilerPlugin_Qualcomm.so")
APPLY_PLUGIN = Path("tools/apply_plugin_main")
UNUSED_NEEDED = "libQnnLpai.so"
COMPILE_TIMEOUT_S = 600.0

_RE_PARTITION = re.compile(
    r"Partitioned subgraph<(\d+)>, selected (\d+) ops, from a total of (\d+) ops\. resulted in (\d+) partitions\."
)
_RE_SDK = re.compile(r"Applying plugin with SDK version: (\S+)")
_RE_SKEW = re.compile(r"(Qnn [\w ]*?version [\d.]+ is used\. The version LiteRT using is [\d.]+)")


class NpuUnavailable(RuntimeUnavailableError):
    """The QNN libraries, LiteRT's compiler or patchelf are missing; one line naming the install command."""


class NpuCompileError(RuntimeError):
    """The compiler failed for one SoC; one line, pointing at the log."""


# ----------------------------------------------------------------------------------------------- --npu argument


@dataclass(frozen=True)
class NpuRequest:
    vendor: str
    socs: tuple[str, ...]


def parse_npu(text: str) -> NpuRequest:
    """``qualcomm:SM8650,SM8750`` or ``qualcomm:all``; a ``ValueError`` naming the valid SoCs otherwise. Needs no
    library, so the command line is checked before torch or TensorFlow load."""
    valid = ", ".join(SOC_HTP_ARCH)
    vendor, sep, rest = text.partition(":")
    if vendor.strip().lower() != VENDOR:
        raise ValueError(
            f"--npu {text}: unknown NPU vendor {vendor.strip()!r}; pass qualcomm:SOC[,SOC...] or qualcomm:all "
            f"(SoCs: {valid})"
        )
    names = [s.strip().upper() for s in rest.split(",") if s.strip()] if sep else []
    if not names:
        raise ValueError(f"--npu {text}: name the SoCs, e.g. qualcomm:SM8650,SM8750 or qualcomm:all (SoCs: {valid})")
    if "ALL" in names:
        return NpuRequest(VENDOR, tuple(SOC_HTP_ARCH))
    bad = [s for s in names if s not in SOC_HTP_ARCH]
    if bad:
        raise ValueError(f"--npu {text}: unknown Qualcomm SoC {', '.join(bad)}; choose from {valid} or all")
    return NpuRequest(VENDOR, tuple(dict.fromkeys(names)))


def takes_float(soc: str) -> bool:
    return SOC_HTP_ARCH[soc] >= FLOAT_MIN_HTP_ARCH


# ------------------------------------------------------------------------------------------------- the tools


def _package_dir(name: str) -> Path | None:
    spec = util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def qnn_lib_dir() -> Path:
    """The folder of the QNN x86-64 libraries (the ``onnxruntime-qnn`` wheel's package folder)."""
    d = _package_dir("onnxruntime_qnn")
    if d is None or not (d / "libQnnHtp.so").is_file():
        raise NpuUnavailable(f"the Qualcomm NPU needs the QNN libraries of onnxruntime-qnn; run `{INSTALL_HINT}`")
    return d


def _patchelf() -> Path:
    for candidate in (Path(sys.executable).parent / "patchelf", shutil.which("patchelf")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise NpuUnavailable(f"compiling for a Qualcomm NPU needs patchelf; run `{INSTALL_HINT}`")


def _litert_file(rel: Path) -> Path:
    d = _package_dir("ai_edge_litert")
    path = d / rel if d else None
    if path is None or not path.is_file():
        raise NpuUnavailable(f"LiteRT's {rel.name} is missing; run `pip install 'shufflenet-mobile[export,npu]'`")
    return path


def needed_libraries(lib: Path) -> list[str]:
    """The ``DT_NEEDED`` entries of a shared library (``patchelf --print-needed``)."""
    r = subprocess.run([str(_patchelf()), "--print-needed", str(lib)], capture_output=True, text=True, check=False)
    if r.returncode:
        raise NpuCompileError(f"patchelf cannot read {lib}: {r.stderr.strip()}")
    return r.stdout.split()


def patched_plugin(folder: Path) -> Path:
    """A copy of LiteRT's Qualcomm compiler plugin in ``folder`` without its ``libQnnLpai.so`` dependency (see the
    module's notes); the package's own plugin is left as it is."""
    src = _litert_file(PLUGIN)
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / src.name
    shutil.copyfile(src, dst)
    if UNUSED_NEEDED in needed_libraries(dst):
        r = subprocess.run([str(_patchelf()), "--remove-needed", UNUSED_NEEDED, str(dst)], capture_output=True,
                           text=True, check=False)  # fmt: skip
        if r.returncode:
            raise NpuCompileError(f"patchelf could not drop {UNUSED_NEEDED} from the plugin copy: {r.stderr.strip()}")
    return dst


@dataclass
class QnnCompiler:
    """LiteRT's ``apply_plugin_main``, a patched plugin copy in ``plugin_dir`` and the QNN libraries' folder."""

    apply_plugin: Path
    plugin_dir: Path
    qnn_libs: Path

    @staticmethod
    def check() -> None:
        """``NpuUnavailable`` (one line naming the install command) when a library or tool is not installed."""
        qnn_lib_dir()
        _litert_file(APPLY_PLUGIN)
        _litert_file(PLUGIN)
        _patchelf()

    @classmethod
    def prepare(cls, work_dir: Path) -> QnnCompiler:
        """Check every tool and write the plugin copy into ``work_dir``."""
        cls.check()
        plugin = patched_plugin(Path(work_dir) / "qualcomm_plugin")
        return cls(_litert_file(APPLY_PLUGIN), plugin.parent, qnn_lib_dir())

    def versions(self) -> dict[str, str]:
        return {"ai-edge-litert": _version("ai-edge-litert"), "onnxruntime-qnn": _version("onnxruntime-qnn"),
                "patchelf": _version("patchelf")}  # fmt: skip

    def compile(self, src: Path, soc: str, out: Path) -> CompiledNpu:
        """Compile ``src`` for ``soc`` into ``out`` (the compiler's output goes to the library log on failure)."""
        if soc not in SOC_HTP_ARCH:
            raise ValueError(f"unknown Qualcomm SoC {soc}; choose from {', '.join(SOC_HTP_ARCH)}")
        args = [str(self.apply_plugin), "--cmd=apply", f"--model={src}", f"--o={out}", "--soc_manufacturer=Qualcomm",
                f"--soc_model={soc}", "--err=--", f"--libs={self.plugin_dir}"]  # fmt: skip
        env = {**os.environ, "LD_LIBRARY_PATH": str(self.qnn_libs)}
        t = time.time()
        try:
            r = subprocess.run(args, capture_output=True, text=True, errors="replace", env=env, check=False,
                               timeout=COMPILE_TIMEOUT_S)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise NpuCompileError(f"compiling {src.name} for {soc} took over {COMPILE_TIMEOUT_S:.0f} s") from None
        seconds = time.time() - t
        text = r.stdout + r.stderr
        stats = [tuple(int(v) for v in m) for m in _RE_PARTITION.findall(text)]
        if r.returncode or not out.is_file() or not stats:
            out.unlink(missing_ok=True)
            log.error("the Qualcomm compiler's last lines:\n%s", "\n".join(text.splitlines()[-40:]))
            raise NpuCompileError(
                f"the Qualcomm compiler failed on {src.name} for {soc} (exit {r.returncode}); its last lines are in "
                "the library log"
            )
        sdk = _RE_SDK.search(text)
        graph = read_tflite(out)
        return CompiledNpu(
            soc=soc,
            path=out,
            seconds=seconds,
            ops_on_npu=sum(s[1] for s in stats),
            ops_total=sum(s[2] for s in stats),
            partitions=sum(s[3] for s in stats),
            ops_on_cpu={k: v for k, v in graph.op_histogram.items() if k != "DISPATCH_OP"},
            qnn_sdk=sdk.group(1) if sdk else "unknown",
            version_notes=sorted(set(_RE_SKEW.findall(text))),
        )


@dataclass
class CompiledNpu:
    soc: str
    path: Path
    seconds: float
    ops_on_npu: int
    ops_total: int
    partitions: int
    ops_on_cpu: dict[str, int]
    qnn_sdk: str
    version_notes: list[str] = field(default_factory=list)

    @property
    def all_on_npu(self) -> bool:
        return self.ops_on_npu == self.ops_total and not self.ops_on_cpu

    def npu_dict(self, source: str, versions: dict[str, str]) -> dict[str, Any]:
        """The manifest entry's ``npu`` object."""
        return {
            "vendor": VENDOR,
            "soc": self.soc,
            "htp_arch": f"v{SOC_HTP_ARCH[self.soc]}",
            "ops_on_npu": self.ops_on_npu,
            "ops_total": self.ops_total,
            "partitions": self.partitions,
            "ops_on_cpu": self.ops_on_cpu,
            "compiled_from": source,
            "compile_seconds": round(self.seconds, 3),
            "compiler": {**versions, "qnn_sdk": self.qnn_sdk, "version_notes": self.version_notes},
        }


# ------------------------------------------------------------------------------------------- the .tflite file


@dataclass
class NpuGraph:
    """What a compiled .tflite holds: its signature, op histogram and (one DISPATCH_OP) the context binary."""

    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    op_histogram: dict[str, int]
    dispatch: list[dict[str, Any]]  # per DISPATCH_OP: name, bytecode_offset, bytecode_size


_TFL_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 9: "int8"}


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


# ------------------------------------------------------------------------------------------------- the export


def npu_filename(source: str, soc: str) -> str:
    return f"{Path(source).stem}_{VENDOR}_{soc.lower()}.tflite"


def ops_cell(npu: dict[str, Any]) -> str:
    """A short table cell: ``SM8650 v75, 76/76 ops`` (+ what stays on the CPU)."""
    s = f"{npu['soc']} {npu['htp_arch']}, {npu['ops_on_npu']}/{npu['ops_total']} ops"
    if npu.get("ops_on_cpu"):
        s += " (CPU: " + ", ".join(f"{k} x{v}" for k, v in npu["ops_on_cpu"].items()) + ")"
    return s


def export_entries(ctx: Any, sources: list[dict[str, Any]], request: NpuRequest) -> list[dict[str, Any]]:
    """Per SoC of ``request``: each CPU .tflite of ``sources`` (int8, and float where the SoC's HTP has float)
    compiled into ``ctx.out_dir``, with its manifest entry."""
    from .context import manifest_entry

    compiler = QnnCompiler.prepare(ctx.work_dir)
    versions = compiler.versions()
    tflites = [e for e in sources if is_cpu_tflite(e)]
    entries = []
    for soc in request.socs:
        picked = [e for e in tflites if e["precision"] == "int8" or takes_float(soc)]
        skipped = [e["path"] for e in tflites if e not in picked]
        ctx.step(f"Qualcomm {soc} NPU (HTP v{SOC_HTP_ARCH[soc]}): {', '.join(e['precision'] for e in picked)}")
        if skipped:
            log.info("%s (HTP v%d) has no float HTP: %s not compiled", soc, SOC_HTP_ARCH[soc], ", ".join(skipped))
        for src in picked:
            t = time.time()
            out = ctx.out_dir / npu_filename(src["path"], soc)
            done = compiler.compile(ctx.out_dir / src["path"], soc, out)
            ctx.timed(f"npu_{soc}_{src['precision']}", t)
            if not done.all_on_npu:
                log.warning("%s for %s: %d of %d ops on the NPU; on the CPU: %s", src["path"], soc, done.ops_on_npu,
                            done.ops_total, done.ops_on_cpu)  # fmt: skip
            # A float graph runs in float16 on the HTP (QNN's default for float32 graphs): judged as fp16.
            precision, kind = ("int8", src.get("variant", "int8")) if src["precision"] == "int8" else \
                ("fp16", "float32 I/O, float16 on the HTP")  # fmt: skip
            extra = {"inputs": src["inputs"], "outputs": src["outputs"], "op_histogram": read_tflite(out).op_histogram,
                     "npu": done.npu_dict(src["path"], versions)}  # fmt: skip
            entries.append(manifest_entry("tflite", precision, f"{kind}, {soc} NPU", out, "litert-npu", **extra))
    return entries
