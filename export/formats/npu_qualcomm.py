"""Qualcomm Snapdragon NPUs (Hexagon HTP): ahead-of-time compiled .tflite files (running them on Qualcomm's HTP
emulator here is the runtime ``shufflenet.export.runtimes.qnn_htp``).

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
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from shufflenet.export.manifest import is_cpu_tflite
from shufflenet.export.runtimes.qnn_htp import INSTALL_HINT, NpuUnavailable, package_dir, qnn_lib_dir, read_tflite

log = logging.getLogger(__name__)

VENDOR = "qualcomm"
# The SoCs of LiteRT 2.3.0's Qualcomm target (``ai_edge_litert.aot.vendors.qualcomm.target.SocModel``) and the
# Hexagon HTP architecture of each (what the QNN compiler sets for the SoC; tests check both against the tools).
SOC_HTP_ARCH = {"SA8255": 73, "SA8295": 68, "SM8350": 68, "SM8450": 69, "SM8475": 69, "SM8550": 73, "SM8650": 75,
                "SM8750": 79, "SM8845": 81, "SM8850": 81}  # fmt: skip
# Float graphs go to SoCs whose HTP computes in float16 (v69 on). A v68 SoC compiles a float graph too, but it is not
# trusted: 1.0x g1 CIFAR float32 for SM8350 ran on the emulator 0.13 of the largest output away from the CPU file
# (for SA8295, also v68, 0.0011; for SM8450, v69, 0.0011).
FLOAT_MIN_HTP_ARCH = 69
PLUGIN = Path("vendors/qualcomm/compiler/libLiteRtCompilerPlugin_Qualcomm.so")
APPLY_PLUGIN = Path("tools/apply_plugin_main")
UNUSED_NEEDED = "libQnnLpai.so"
COMPILE_TIMEOUT_S = 600.0

_RE_PARTITION = re.compile(
    r"Partitioned subgraph<(\d+)>, selected (\d+) ops, from a total of (\d+) ops\. resulted in (\d+) partitions\."
)
_RE_SDK = re.compile(r"Applying plugin with SDK version: (\S+)")
_RE_SKEW = re.compile(r"(Qnn [\w ]*?version [\d.]+ is used\. The version LiteRT using is [\d.]+)")


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


def check_precisions(request: NpuRequest, precisions: tuple[str, ...], text: str) -> None:
    """Refuse, before any work, an ``--npu`` SoC for which none of the .tflite files of ``precisions`` would be
    compiled (an HTP without float takes int8 only): it would silently get nothing."""
    floats = [p for p in precisions if p != "int8"]
    left_out = [soc for soc in request.socs if "int8" not in precisions and not (floats and takes_float(soc))]
    if left_out:
        socs = ", ".join(f"{soc} (HTP v{SOC_HTP_ARCH[soc]})" for soc in left_out)
        raise ValueError(
            f"--npu {text}: {socs} takes int8 files only, and --precision {','.join(precisions)} writes no int8 "
            ".tflite file; add int8 to --precision"
        )


# ------------------------------------------------------------------------------------------------- the tools


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _patchelf() -> Path:
    for candidate in (Path(sys.executable).parent / "patchelf", shutil.which("patchelf")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise NpuUnavailable(f"compiling for a Qualcomm NPU needs patchelf; run `{INSTALL_HINT}`")


def _litert_file(rel: Path) -> Path:
    d = package_dir("ai_edge_litert")
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
    from shufflenet.export.context import manifest_entry

    compiler = QnnCompiler.prepare(ctx.work_dir)
    versions = compiler.versions()
    tflites = [e for e in sources if is_cpu_tflite(e)]
    entries = []
    for soc in request.socs:
        # The float16-arithmetic file differs from the float16-weights one only by XNNPACK's permission to compute
        # in float16, which means nothing to the HTP (it computes a float graph in float16 anyway): not compiled.
        picked = [e for e in tflites if e["precision"] == "int8" or
                  (takes_float(soc) and e["precision"] != "fp16-arith")]  # fmt: skip
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
            entries.append(manifest_entry("tflite", precision, f"{kind}, {soc} NPU", out, "litert-npu",
                                          arithmetic=precision, **extra))  # fmt: skip
    return entries
