"""Latency on an Android device with TensorFlow Lite's ``benchmark_model``, driven over adb.

One session: pick the device, record what it is, push ``benchmark_model`` and the ``.tflite`` files to
``/data/local/tmp``, then for every file x threads x delegate run ``benchmark_model`` K times pinned with
``taskset`` to the chosen cores, waiting ``cooldown`` seconds between runs and reading the thermal zones and the
battery before and after each. Each run's output is pulled, parsed and kept verbatim beside the parsed figures.

Failures of one configuration (a delegate that is not available, ``benchmark_model`` crashing or exiting
non-zero, output that cannot be parsed) are recorded as failed results and the session goes on.

Files compiled for a Qualcomm NPU (manifest entries with an ``npu`` object) run only when the user supplies the
phone's NPU runtime libraries (``npu_libs``: LiteRT's dispatch library and Qualcomm's QNN libraries for the
device, see docs/npu.md): they are pushed to ``REMOTE_DIR/npu`` and the file runs with ``--use_npu=true
--dispatch_library_dir=...`` under ``LD_LIBRARY_PATH`` / ``ADSP_LIBRARY_PATH`` pointing there, which needs LiteRT's
``benchmark_model`` (built with NPU support), not TensorFlow Lite's. A file compiled for another SoC than the
device's (``ro.soc.model``) is recorded as failed, not run. Failures of
the device or the tool (no device, unauthorized, offline, push failure, a binary that cannot run there, a
disconnect) stop the session; whatever finished before is saved first.
"""

from __future__ import annotations

import logging
import re
import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shufflenet.benchmarks.phone_latency import adb as adbm
from shufflenet.benchmarks.phone_latency.adb import Adb, BenchError, first_line
from shufflenet.benchmarks.phone_latency.bm_output import ParsedOutput, delegate_unavailable, parse_output
from shufflenet.benchmarks.reports.results import BenchReport, BenchResult, failed_result, result_from_stats
from shufflenet.benchmarks.reports.stats import SummaryPart, pool_summaries
from shufflenet.model.files import sha256_path

log = logging.getLogger(__name__)

DELEGATES = ("cpu", "xnnpack", "gpu", "nnapi", "npu")
DELEGATE_FLAGS = {
    "cpu": ["--use_xnnpack=false"],
    "xnnpack": ["--use_xnnpack=true"],
    "gpu": ["--use_gpu=true"],
    "nnapi": ["--use_nnapi=true"],
    "npu": ["--use_npu=true"],  # with --dispatch_library_dir (benchmark_command)
}
REMOTE_DIR = "/data/local/tmp"
NPU_DISPATCH = {"qualcomm": "libLiteRtDispatch_Qualcomm.so"}  # what --npu-libs must hold, per vendor


class BinaryNotRunnable(BenchError):
    pass


class BenchmarkFailed(BenchError):
    pass


class DelegateUnavailable(BenchError):
    pass


@dataclass
class AndroidConfig:
    benchmark_model: Path | None  # None: only the .pte files, with pte_runner
    artifacts: Path
    files: list[str] | None = None
    serial: str | None = None
    threads: list[int] = field(default_factory=lambda: [1])
    delegates: list[str] = field(default_factory=lambda: ["xnnpack"])
    cores: str = "big"
    warmup: int = 10
    runs: int = 50
    repeats: int = 3
    cooldown_s: float = 10.0
    op_profiling: bool = False
    max_warming_c: float = 5.0
    adb: str | None = None
    remote_dir: str = REMOTE_DIR
    check_abi: bool = True
    run_timeout_s: float = 900.0
    keep_remote_files: bool = False
    npu_libs: Path | None = None  # the phone's NPU runtime libraries; NPU files run only with them
    pte_runner: Path | None = None  # the user's ExecuTorch executor_runner build: the .pte files run with it

    @property
    def remote_npu_dir(self) -> str:
        return f"{self.remote_dir}/npu"

    def validate(self) -> None:
        if self.benchmark_model is None and self.pte_runner is None:
            raise ValueError("pass --benchmark-model (for the .tflite files) or --pte-runner (for the .pte files)")
        if self.benchmark_model is not None and not Path(self.benchmark_model).is_file():
            raise ValueError(f"benchmark_model not found: {self.benchmark_model}")
        if self.pte_runner is not None and not Path(self.pte_runner).is_file():
            raise ValueError(f"--pte-runner {self.pte_runner} not found; pass the executor_runner you built for the "
                             "phone (see docs/benchmarks.md)")  # fmt: skip
        if not Path(self.artifacts).is_dir():
            raise ValueError(f"artifacts folder not found: {self.artifacts}")
        bad = [d for d in self.delegates if d not in DELEGATES]
        if bad:
            raise ValueError(f"unknown delegate(s) {bad}: choose from {', '.join(DELEGATES)}")
        if not self.threads or any(t < 1 for t in self.threads):
            raise ValueError("--threads must list positive integers")
        if self.runs < 1 or self.repeats < 1 or self.warmup < 0 or self.cooldown_s < 0:
            raise ValueError("--runs and --repeats must be >= 1, --warmup and --cooldown >= 0")
        if self.npu_libs is not None:
            libs = Path(self.npu_libs)
            if not libs.is_dir():
                raise ValueError(f"--npu-libs {libs} is not a folder; pass the folder of the phone's NPU runtime "
                                 "libraries (see docs/npu.md)")  # fmt: skip
            if not any((libs / name).is_file() for name in NPU_DISPATCH.values()):
                need = " or ".join(NPU_DISPATCH.values())
                raise ValueError(f"--npu-libs {libs} has no {need}; it needs LiteRT's dispatch library and the "
                                 "vendor's runtime libraries for the phone (see docs/npu.md)")  # fmt: skip
        elif "npu" in self.delegates:
            raise ValueError("--delegate npu needs --npu-libs DIR, the phone's NPU runtime libraries (see docs/npu.md)")


@dataclass
class DeviceInfo:
    serial: str
    model: str = ""
    manufacturer: str = ""
    soc: str = ""
    board: str = ""
    android_version: str = ""
    sdk: str = ""
    abi: str = ""
    abilist: list[str] = field(default_factory=list)
    cpu_max_freq_khz: dict[int, int] = field(default_factory=dict)
    thermal_c: dict[str, float] = field(default_factory=dict)
    battery: dict[str, float] = field(default_factory=dict)
    cpu_features: list[str] = field(default_factory=list)  # /proc/cpuinfo Features common to every core

    @property
    def fp16_arithmetic(self) -> bool | None:
        """Whether the CPU has the ARMv8.2 FP16 arithmetic XNNPACK's float16 kernels need; None when unknown."""
        from shufflenet.export.runtimes.litert import cpu_has_fp16_arithmetic

        return cpu_has_fp16_arithmetic(" ".join(self.cpu_features)) if self.cpu_features else None

    @property
    def description(self) -> str:
        clusters: dict[int, int] = {}
        for f in self.cpu_max_freq_khz.values():
            clusters[f] = clusters.get(f, 0) + 1
        cpus = " + ".join(f"{n}x{f / 1e6:.2f} GHz" for f, n in sorted(clusters.items(), reverse=True))
        parts = [f"{self.manufacturer} {self.model}".strip() or self.serial]
        if self.soc:
            parts.append(self.soc)
        if cpus:
            parts.append(cpus)
        if self.android_version:
            parts.append(f"Android {self.android_version} (API {self.sdk})")
        if self.abi:
            parts.append(self.abi)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_max_freq_khz"] = {str(k): v for k, v in self.cpu_max_freq_khz.items()}
        d["description"] = self.description
        return d


def device_info(adb: Adb) -> DeviceInfo:
    props = adbm.read_props(adb)
    soc_model = props.get("ro.soc.model", "")
    soc_maker = props.get("ro.soc.manufacturer", "")
    soc = " ".join(x for x in (soc_maker, soc_model) if x) or props.get("ro.board.platform", "")
    board = props.get("ro.product.board") or props.get("ro.board.platform") or props.get("ro.hardware", "")
    abi = props.get("ro.product.cpu.abi", "")
    abilist = [a for a in props.get("ro.product.cpu.abilist", "").split(",") if a] or ([abi] if abi else [])
    return DeviceInfo(
        serial=adb.serial or "",
        model=props.get("ro.product.model", ""),
        manufacturer=props.get("ro.product.manufacturer", ""),
        soc=soc,
        board=board,
        android_version=props.get("ro.build.version.release", ""),
        sdk=props.get("ro.build.version.sdk", ""),
        abi=abi,
        abilist=abilist,
        cpu_max_freq_khz=adbm.read_cpu_max_freqs(adb),
        thermal_c=adbm.read_thermal(adb),
        battery=adbm.read_battery(adb),
        cpu_features=adbm.read_cpu_features(adb),
    )


def _plausible(temps: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in temps.items() if -30.0 <= v <= 150.0}


def warming(before: dict[str, float], after: dict[str, float]) -> float | None:
    """Largest rise (°C) of any thermal zone present in both readings."""
    a, b = _plausible(before), _plausible(after)
    rises = [b[k] - a[k] for k in a.keys() & b.keys()]
    return max(rises) if rises else None


@dataclass
class ModelFile:
    name: str  # relative to the artifacts folder
    path: Path
    precision: str
    variant: str | None = None
    arch: str | None = None
    input_size: list[int] | None = None
    macs: int | None = None
    npu: dict[str, Any] | None = None  # the manifest's npu object of a file compiled for an NPU
    fp16_allowed: bool = False  # its metadata lets XNNPACK compute it in float16 (the float16-arithmetic file)


def _precision_from_name(name: str) -> str:
    n = name.lower()
    if "int8" in n or "integer" in n:
        return "int8"
    if "float16" in n or "fp16" in n:
        return "fp16"
    return "fp32"


def tflite_files(artifacts: Path, only: list[str] | None = None, npu: bool = False) -> list[ModelFile]:
    """The ``.tflite`` files of an export folder (from its manifest when present), optionally a subset; files
    compiled for an NPU only with ``npu`` (the user supplied the phone's NPU runtime libraries)."""
    from shufflenet.export.manifest import read_manifest, verify_artifact

    artifacts = Path(artifacts)
    found: list[ModelFile] = []
    if (artifacts / "manifest.json").is_file():
        m = read_manifest(artifacts)
        for e in m["artifacts"]:
            if e.get("format") == "tflite" and (not only or e["path"] in only):
                if e.get("npu") and not npu:
                    if only:
                        raise ValueError(f"{e['path']} is compiled for an NPU; pass --npu-libs DIR (see docs/npu.md)")
                    log.info("%s is compiled for an NPU: skipped (pass --npu-libs to run it)", e["path"])
                    continue
                verify_artifact(artifacts, e)  # a file altered since export is refused before it reaches a phone
                found.append(
                    ModelFile(
                        name=e["path"],
                        path=artifacts / e["path"],
                        precision=e.get("precision") or _precision_from_name(e["path"]),
                        variant=e.get("variant"),
                        arch=m.get("arch"),
                        input_size=list(m["input_size"]) if m.get("input_size") else None,
                        macs=(m.get("complexity") or {}).get("macs") or None,
                        npu=e.get("npu"),
                    )
                )
    else:
        for p in sorted(artifacts.glob("*.tflite")):
            found.append(ModelFile(name=p.name, path=p, precision=_precision_from_name(p.name)))
    if only:
        names = {f.name: f for f in found}
        missing = [n for n in only if n not in names and not (artifacts / n).is_file()]
        if missing:
            raise ValueError(f"not in {artifacts}: {', '.join(missing)}")
        found = [names.get(n) or ModelFile(name=n, path=artifacts / n, precision=_precision_from_name(n)) for n in only]
    if not found:
        raise ValueError(f"no .tflite files in {artifacts}")
    for f in found:
        if not f.path.is_file():
            raise ValueError(f"listed in the manifest but missing: {f.path}")
        f.fp16_allowed = _allows_fp16(f.path)
    return found


def _allows_fp16(path: Path) -> bool:
    """From the file itself (a file of a folder without manifest too): its reduced_precision_support metadata."""
    from shufflenet.export.runtimes.litert import allows_fp16_arithmetic, reduced_precision_support

    try:
        return allows_fp16_arithmetic(reduced_precision_support(path))
    except Exception:  # not a readable flatbuffer: benchmark_model will say so on the phone
        return False


FORCE_FP16_FLAG = "--xnnpack_force_fp16=true"


@dataclass
class ArithmeticPlan:
    """What one run of a file asks of XNNPACK: float16 arithmetic (with ``--xnnpack_force_fp16``) or not, and why."""

    arithmetic: str  # fp16, fp32, int8, or "delegate's own" (GPU, NNAPI, NPU)
    flag: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"arithmetic": self.arithmetic, "flag": self.flag, "reason": self.reason}


def arithmetic_plan(f: ModelFile, delegate: str, info: DeviceInfo) -> ArithmeticPlan:
    """A float16-arithmetic file on XNNPACK runs with ``--xnnpack_force_fp16=true`` on a phone whose CPU has FP16
    arithmetic (the flag makes benchmark_model compute in float16 whatever its build does with the file's metadata),
    and without it elsewhere: XNNPACK then computes the file in float32, while forcing would make the run fail."""
    if delegate in ("gpu", "nnapi", "npu"):
        return ArithmeticPlan("delegate's own", None, f"the {delegate} delegate chooses its own precision")
    if f.precision == "int8":
        return ArithmeticPlan("int8", None, "a full-integer file")
    if not f.fp16_allowed:
        return ArithmeticPlan("fp32", None, "the file does not allow float16 arithmetic")
    if delegate == "cpu":
        return ArithmeticPlan("fp32", None, "LiteRT's builtin kernels compute in float32 (XNNPACK off)")
    features = " ".join(info.cpu_features) or "unknown"
    if info.fp16_arithmetic:
        return ArithmeticPlan("fp16", FORCE_FP16_FLAG, "the CPU has FP16 arithmetic (fphp, asimdhp)")
    if info.fp16_arithmetic is None:
        return ArithmeticPlan("fp32", None, "the CPU's features could not be read (/proc/cpuinfo): not forced")
    return ArithmeticPlan("fp32", None, f"the CPU has no FP16 arithmetic (Features: {features}): XNNPACK computes "
                                        "the file in float32")  # fmt: skip


def benchmark_command(
    cfg: AndroidConfig,
    mask: str | None,
    remote_model: str,
    threads: int,
    delegate: str,
    remote_out: str,
    extra_flags: tuple[str, ...] = (),
) -> str:
    """The device shell line for one ``benchmark_model`` run (output redirected to a file)."""
    argv = [
        f"{cfg.remote_dir}/benchmark_model",
        f"--graph={remote_model}",
        f"--num_threads={threads}",
        f"--warmup_runs={cfg.warmup}",
        f"--num_runs={cfg.runs}",
        "--warmup_min_secs=0",
        "--min_secs=0",
        *DELEGATE_FLAGS[delegate],
        *extra_flags,
    ]
    if cfg.op_profiling:
        argv.append("--enable_op_profiling=true")
    if delegate == "npu":
        argv.append(f"--dispatch_library_dir={cfg.remote_npu_dir}")
    if mask:
        argv = ["taskset", mask, *argv]
    if delegate == "npu":  # the dispatch library finds the QNN libraries, and the DSP its skeleton, there
        argv = [f"LD_LIBRARY_PATH={cfg.remote_npu_dir}", f"ADSP_LIBRARY_PATH={cfg.remote_npu_dir}", *argv]
    return " ".join(shlex.quote(a) for a in argv) + f" > {shlex.quote(remote_out)} 2>&1"


_BUILDS = {"arm64-v8a": "android_aarch64 build", "armeabi-v7a": "android_arm build", "x86_64": "android_x86_64 build",
           "x86": "android_x86 build"}  # fmt: skip


def _not_runnable(rc: int, msg: str, info: DeviceInfo, binary: Path) -> BinaryNotRunnable:
    if re.search(r"not executable|Exec format error|ELF", msg, re.IGNORECASE):
        local_abi = adbm.elf_abi(binary)
        listed = info.abilist or ([info.abi] if info.abi else [])
        primary = info.abi or (listed[0] if listed else "")
        build = f"; use the {_BUILDS.get(primary, primary + ' build')}" if primary else ""
        if local_abi and local_abi in listed:
            # The device lists the ABI (e.g. armeabi-v7a on a 64-bit-only phone) yet refuses the file.
            why = f"it is built for {local_abi}, which the device lists but would not execute"
        elif local_abi:
            why = f"it is built for {local_abi}, the device runs {', '.join(listed) or 'another ABI'}"
        else:
            why = "it is not an Android executable of any known ABI"
        return BinaryNotRunnable(f"benchmark_model cannot run on {info.serial}: {why} ({msg}){build}")
    if re.search(r"Permission denied|can't execute|cannot execute", msg, re.IGNORECASE):
        return BinaryNotRunnable(f"benchmark_model is not executable on {info.serial} ({msg})")
    return BinaryNotRunnable(f"benchmark_model could not be started on {info.serial} (exit {rc}: {msg})")


@dataclass
class _Run:
    rc: int
    shell_message: str
    parsed: ParsedOutput
    thermal_before: dict[str, float]
    thermal_after: dict[str, float]
    battery_before: dict[str, float]
    battery_after: dict[str, float]
    warming_c: float | None

    def record(self) -> dict[str, Any]:
        return {
            "exit_status": self.rc,
            "shell_message": self.shell_message,
            "parsed": self.parsed.to_dict(),
            "raw_output": self.parsed.raw,
            "thermal_before_c": self.thermal_before,
            "thermal_after_c": self.thermal_after,
            "battery_before": self.battery_before,
            "battery_after": self.battery_after,
            "warming_c": self.warming_c,
        }


def run_android(
    cfg: AndroidConfig,
    save: Callable[[BenchReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    adb: Adb | None = None,
) -> BenchReport:
    """Run the whole device session; ``save`` is called with the report after every result and on failure."""
    cfg.validate()
    report = BenchReport(kind="android", config=_config_dict(cfg))

    def persist() -> None:
        if save is not None:
            save(report)

    try:
        _session(cfg, report, persist, sleep, adb)
    except BenchError as e:
        report.errors.append(str(e))
        persist()
        raise
    persist()
    return report


def _config_dict(cfg: AndroidConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["benchmark_model"] = str(cfg.benchmark_model) if cfg.benchmark_model else None
    d["pte_runner"] = str(cfg.pte_runner) if cfg.pte_runner else None
    d["artifacts"] = str(cfg.artifacts)
    return d


def _session(
    cfg: AndroidConfig,
    report: BenchReport,
    persist: Callable[[], None],
    sleep: Callable[[float], None],
    adb: Adb | None,
) -> None:
    tflite_only = [f for f in cfg.files or [] if not f.endswith(".pte")] or None
    files = tflite_files(cfg.artifacts, tflite_only, npu=cfg.npu_libs is not None) if cfg.benchmark_model else []
    adb = adb or Adb(cfg.adb)
    adb.select(cfg.serial)
    info = device_info(adb)
    binary = Path(cfg.benchmark_model or cfg.pte_runner)  # type: ignore[arg-type]  (validate: one is set)
    report.environment = {
        "device": info.to_dict(),
        "machine": info.description,
        "adb": adb.path,
    }
    for key, tool in (("benchmark_model", cfg.benchmark_model), ("pte_runner", cfg.pte_runner)):
        if tool is not None:
            report.environment[key] = {"path": str(tool), "sha256": sha256_path(tool), "abi": adbm.elf_abi(tool)}
    log.info("device %s: %s", info.serial, info.description)
    for tool in (t for t in (cfg.benchmark_model, cfg.pte_runner) if t is not None):
        local_abi = adbm.elf_abi(Path(tool))
        if cfg.check_abi and local_abi and info.abilist and local_abi not in info.abilist:
            raise BinaryNotRunnable(
                f"{Path(tool).name} is built for {local_abi} but device {info.serial} runs "
                f"{', '.join(info.abilist)}: use the "
                f"android_{'aarch64' if 'arm64-v8a' in info.abilist else 'arm'} build"
            )
    mask, cores = adbm.cores_mask(cfg.cores, info.cpu_max_freq_khz)
    report.environment["cores"] = {"choice": cfg.cores, "mask": mask, "cores": cores}
    if max(cfg.threads) > len(cores):
        log.warning("%d threads on %d pinned cores: threads will share cores", max(cfg.threads), len(cores))

    if cfg.pte_runner is not None:
        from shufflenet.benchmarks.phone_latency.pte_android import run_pte_files

        pushed: list[str] = []
        try:
            with tempfile.TemporaryDirectory(prefix="shufflenet-bench-") as tmp:
                pushed = run_pte_files(cfg, adb, info.serial, mask, cores, report, persist, sleep, Path(tmp), warming)
        finally:
            if not cfg.keep_remote_files and pushed:
                _clean_up(adb, pushed)
    if not files:
        return
    remote_bin = f"{cfg.remote_dir}/benchmark_model"
    adb.push(binary, remote_bin)
    r = adb.shell(f"chmod 755 {shlex.quote(remote_bin)}", what="chmod of benchmark_model")
    if r.returncode != 0:
        raise BinaryNotRunnable(f"chmod of {remote_bin} failed: {first_line(r.stderr + r.stdout)}")
    remote_libs = _push_npu_libs(adb, cfg) if any(f.npu for f in files) else []
    remote_models: dict[str, str] = {}
    for f in files:
        remote = f"{cfg.remote_dir}/{Path(f.name).name}"
        log.info("push %s", f.name)
        adb.push(f.path, remote)
        remote_models[f.name] = remote
    persist()

    baseline = info.thermal_c
    remote_out = f"{cfg.remote_dir}/shufflenet_bench_output.txt"
    try:
        first = True
        with tempfile.TemporaryDirectory(prefix="shufflenet-bench-") as tmp:
            for f in files:
                for threads in cfg.threads:
                    # A compiled NPU file runs on its NPU only; CPU files with the delegates asked for.
                    for delegate in ["npu"] if f.npu else [d for d in cfg.delegates if d != "npu"]:
                        ident = dict(
                            target=info.serial,
                            runtime="benchmark_model",
                            format="tflite",
                            precision=f.precision,
                            path=f.name,
                            threads=threads,
                            delegate=delegate,
                            warmup=cfg.warmup,
                            arch=f.arch,
                            input_size=f.input_size,
                            macs=f.macs,
                            variant=f.variant,
                        )
                        what = f"{f.name} threads={threads} delegate={delegate}"
                        plan = arithmetic_plan(f, delegate, info)
                        if f.fp16_allowed and plan.arithmetic == "fp32" and delegate == "xnnpack":
                            log.warning("%s: %s", what, plan.reason)
                        runs: list[_Run] = []
                        failure: tuple[str, str] | None = None  # (status, message)
                        other_soc = _other_soc(f, info)
                        if other_soc:
                            report.results.append(failed_result(other_soc, status="failed", repeats=0, **ident))
                            report.errors.append(f"{what}: {other_soc}")
                            log.error("%s: %s", what, other_soc)
                            persist()
                            continue
                        for k in range(cfg.repeats):
                            if not first and cfg.cooldown_s > 0:
                                sleep(cfg.cooldown_s)
                            first = False
                            cmd = benchmark_command(cfg, mask, remote_models[f.name], threads, delegate, remote_out,
                                                    (plan.flag,) if plan.flag else ())  # fmt: skip
                            run = _one_run(adb, cmd, remote_out, Path(tmp) / "out.txt", info, binary, what, cfg)
                            runs.append(run)
                            since_start = warming(baseline, run.thermal_after)
                            if run.warming_c is not None and run.warming_c > cfg.max_warming_c:
                                log.warning(
                                    "%s repeat %d: device warmed by %.1f °C during the run (throttling likely)",
                                    what, k + 1, run.warming_c,
                                )  # fmt: skip
                            elif since_start is not None and since_start > cfg.max_warming_c:
                                log.warning(
                                    "%s repeat %d: device %.1f °C warmer than at the start (throttling likely): "
                                    "lengthen --cooldown",
                                    what, k + 1, since_start,
                                )  # fmt: skip
                            failure = _judge_run(run, delegate, what)
                            if failure is not None:
                                break
                        result = _result(runs, failure, ident, cfg, mask, cores, baseline)
                        if f.fp16_allowed:
                            _record_arithmetic(result, plan, runs, what)
                        report.results.append(result)
                        if result.status != "ok":
                            report.errors.append(f"{what}: {result.error}")
                            log.error("%s: %s", what, result.error)
                        else:
                            log.info("%s: mean %.2f ms over %d runs", what, result.mean_ms, result.runs)
                        persist()
    finally:
        if not cfg.keep_remote_files:
            _clean_up(adb, [remote_out, remote_bin, *remote_models.values(), *remote_libs])


def _record_arithmetic(result: BenchResult, plan: ArithmeticPlan, runs: list[_Run], what: str) -> None:
    """The arithmetic a float16-arithmetic file ran in, with the result; whether benchmark_model echoed the flag
    (it logs every parameter it was given, ``xnnpack_force_fp16: [1]``; an old build that does not know the flag
    says nothing of it, and the run is then not known to be float16)."""
    d = plan.to_dict()
    if plan.flag:
        echoed = [bool(re.search(r"xnnpack_force_fp16:\s*\[(1|true)\]", r.parsed.raw)) for r in runs]
        d["flag_acknowledged"] = bool(echoed) and all(echoed)
        if not d["flag_acknowledged"]:
            d["reason"] += "; benchmark_model did not echo xnnpack_force_fp16 (an older build ignores the flag)"
            log.warning("%s: benchmark_model did not echo xnnpack_force_fp16: float16 not confirmed", what)
    result.details["arithmetic"] = d
    acknowledged = d.get("flag_acknowledged", True)
    used = plan.arithmetic if acknowledged else "fp16 not confirmed"
    result.details["arithmetic_note"] = f"{used} arithmetic" + (f" ({plan.flag})" if plan.flag else f": {plan.reason}")


def _push_npu_libs(adb: Adb, cfg: AndroidConfig) -> list[str]:
    """Every file of ``cfg.npu_libs`` into ``cfg.remote_npu_dir``; their device paths."""
    assert cfg.npu_libs is not None
    r = adb.shell(f"mkdir -p {shlex.quote(cfg.remote_npu_dir)}", what="mkdir of the NPU library folder")
    if r.returncode != 0:
        raise adbm.PushFailed(f"cannot create {cfg.remote_npu_dir} on the device: {first_line(r.stderr + r.stdout)}")
    pushed = []
    for lib in sorted(p for p in Path(cfg.npu_libs).iterdir() if p.is_file()):
        remote = f"{cfg.remote_npu_dir}/{lib.name}"
        log.info("push %s", lib.name)
        adb.push(lib, remote)
        pushed.append(remote)
    return pushed


def _other_soc(f: ModelFile, info: DeviceInfo) -> str | None:
    """Why a compiled NPU file cannot run on this device (compiled for another SoC), or None."""
    if not f.npu:
        return None
    soc = str(f.npu.get("soc", ""))
    device = info.soc.split()[-1] if info.soc else ""
    if device and soc and device.upper() != soc.upper():
        from shufflenet.export.formats.npu_qualcomm import SOC_HTP_ARCH

        fix = (f"export with --npu qualcomm:{device.upper()}" if device.upper() in SOC_HTP_ARCH else
               f"{device} has no ahead-of-time Qualcomm target in LiteRT")  # fmt: skip
        return f"compiled for {soc}, but the device is {device} (ro.soc.model); {fix}"
    return None


def _clean_up(adb: Adb, paths: list[str]) -> None:
    """Remove what was pushed; best effort (the device may be gone)."""
    try:
        adb.shell("rm -f " + " ".join(shlex.quote(p) for p in paths), what="clean-up")
    except adbm.AdbError as e:
        log.warning("clean-up on the device skipped: %s", e)


def _one_run(
    adb: Adb, cmd: str, remote_out: str, local_out: Path, info: DeviceInfo, binary: Path, what: str, cfg: AndroidConfig
) -> _Run:
    thermal_before = adbm.read_thermal(adb)
    battery_before = adbm.read_battery(adb)
    adb.shell(f"rm -f {shlex.quote(remote_out)}", what="clean-up")
    log.info("run %s", what)
    res = adb.shell(cmd, timeout=cfg.run_timeout_s, what=f"the benchmark run of {what}")
    msg = first_line(res.stderr + "\n" + res.stdout)
    if res.returncode in (126, 127):
        raise _not_runnable(res.returncode, msg, info, binary)
    try:
        local_out.unlink(missing_ok=True)
        adb.pull(remote_out, local_out)
        text = local_out.read_text(errors="replace")
    except adbm.PullFailed:
        text = res.stdout  # nothing written on the device: keep whatever the shell said
    thermal_after = adbm.read_thermal(adb)
    battery_after = adbm.read_battery(adb)
    return _Run(
        rc=res.returncode,
        shell_message=msg,
        parsed=parse_output(text),
        thermal_before=thermal_before,
        thermal_after=thermal_after,
        battery_before=battery_before,
        battery_after=battery_after,
        warming_c=warming(thermal_before, thermal_after),
    )


def _judge_run(run: _Run, delegate: str, what: str) -> tuple[str, str] | None:
    gone = delegate_unavailable(run.parsed)
    if gone is not None:
        return "failed", f"delegate {delegate} not available: {gone}"
    if run.rc >= 128:
        sig = run.rc - 128
        name = {11: "SIGSEGV", 6: "SIGABRT", 9: "SIGKILL", 7: "SIGBUS", 4: "SIGILL"}.get(sig, f"signal {sig}")
        return "failed", f"benchmark_model crashed ({name}{': ' + run.shell_message if run.shell_message else ''})"
    if run.rc != 0:
        why = run.parsed.failure_lines[0] if run.parsed.failure_lines else (run.shell_message or "no message")
        return "failed", f"benchmark_model exited with status {run.rc}: {why}"
    if not run.parsed.ok:
        return "unparsed", f"{run.parsed.problem} (raw output kept)"
    return None


def _result(
    runs: list[_Run],
    failure: tuple[str, str] | None,
    ident: dict[str, Any],
    cfg: AndroidConfig,
    mask: str,
    cores: list[int],
    baseline: dict[str, float],
) -> BenchResult:
    details: dict[str, Any] = {
        "cores_mask": mask,
        "cores": cores,
        "command_flags": {"warmup_runs": cfg.warmup, "num_runs": cfg.runs, "op_profiling": cfg.op_profiling},
        "repeats": [r.record() for r in runs],
    }
    if failure is not None:
        status, message = failure
        return failed_result(message, status=status, repeats=len(runs), details=details, **ident)
    parts = []
    for r in runs:
        s = r.parsed.runs
        assert s is not None
        parts.append(
            SummaryPart(
                count=s.count,
                mean_ms=s.avg_us / 1000.0,
                std_ms=s.std_us / 1000.0 if s.std_us is not None else None,
                min_ms=s.min_us / 1000.0 if s.min_us is not None else None,
                max_ms=s.max_us / 1000.0 if s.max_us is not None else None,
                median_ms=s.median_us / 1000.0 if s.median_us is not None else None,
            )
        )
    stats = pool_summaries(parts)
    result = result_from_stats(stats, **ident)
    rises = [r.warming_c for r in runs if r.warming_c is not None]
    drifts = [w for w in (warming(baseline, r.thermal_after) for r in runs) if w is not None]
    hot = max(rises + drifts, default=None)
    details["max_warming_c"] = hot
    if hot is not None and hot > cfg.max_warming_c:
        result.noisy = True
        result.noise_reasons.append(
            f"device warmed by {hot:.1f} °C (limit {cfg.max_warming_c:g} °C) since the session started or during a "
            "run: throttling likely"
        )
    result.details = details
    return result
