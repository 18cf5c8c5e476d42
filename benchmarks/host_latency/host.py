"""Latency on this machine: ONNX Runtime, the LiteRT interpreter (XNNPACK) and PyTorch, same statistics engine.

Every runnable file of an export folder is loaded through ``shufflenet.export.runtimes.loader.load_runner`` (so threads
and delegates are set up exactly as parity and evaluation use them) and timed with ``Runner.run_raw`` on one
prepared input in the file's own layout and dtype. PyTorch eager runs the manifest's architecture at the
manifest's input size. Each (file, threads) gets ``warmup`` untimed runs, then ``repeats`` x ``runs`` timed runs.

Every run is timed on the wall clock and on the calling thread's CPU clock. ``clock="wall"`` (the default)
reports latency as a user sees it and flags a single-thread run whose thread was kept off the CPU (a busy
machine); ``clock="cpu"`` reports the thread's CPU time, which leaves that waiting out (single thread only).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from shufflenet.benchmarks.host_latency.machine import finish_environment, host_environment
from shufflenet.benchmarks.reports.results import BenchReport, BenchResult, failed_result, result_from_stats
from shufflenet.benchmarks.reports.stats import CV_LIMIT, REPEAT_SPREAD_LIMIT, summarize
from shufflenet.model.cli_common import error_line

log = logging.getLogger(__name__)

HOST_RUNTIMES = ("onnxruntime", "litert", "executorch", "pytorch")
DEFAULT_DELEGATE = {"onnxruntime": "cpu", "litert": "xnnpack", "executorch": "xnnpack", "pytorch": "cpu"}


@dataclass
class HostConfig:
    artifacts: Path
    files: list[str] | None = None
    runtimes: list[str] = field(default_factory=lambda: list(HOST_RUNTIMES))
    threads: list[int] = field(default_factory=lambda: [1])
    warmup: int = 10
    runs: int = 50
    repeats: int = 3
    cv_limit: float = CV_LIMIT
    repeat_spread_limit: float = REPEAT_SPREAD_LIMIT
    max_seconds: float | None = None  # per (file, threads): fewer runs when slower than this
    clock: str = "wall"  # "cpu": the calling thread's CPU time (single thread only; for shared machines)
    seed: int = 0

    def validate(self) -> None:
        if not (Path(self.artifacts) / "manifest.json").is_file():
            raise ValueError(f"no manifest.json in {self.artifacts}: not an export folder (run shufflenet-export)")
        bad = [r for r in self.runtimes if r not in HOST_RUNTIMES]
        if bad:
            raise ValueError(f"unknown runtime(s) {bad}: choose from {', '.join(HOST_RUNTIMES)}")
        if not self.threads or any(t < 1 for t in self.threads):
            raise ValueError("--threads must list positive integers")
        if self.runs < 1 or self.repeats < 1 or self.warmup < 0:
            raise ValueError("--runs and --repeats must be >= 1, --warmup >= 0")
        if self.clock not in CLOCKS:
            raise ValueError(f"--clock must be one of {', '.join(CLOCKS)}")
        if self.clock == "cpu" and self.threads != [1]:
            raise ValueError("--clock cpu times one thread's CPU time: use it with --threads 1")


# --- timing -------------------------------------------------------------------------------------------------
MIN_RUNS = 5


CLOCKS = ("wall", "cpu")
CPU_SHARE_LIMIT = 0.90  # below this share of the wall time on a CPU, a single-thread wall timing is contended


@dataclass
class Timings:
    """Per run, in ms: wall time, CPU time of the calling thread, CPU time of the whole process."""

    wall: list[list[float]]
    thread_cpu: list[list[float]]
    process_cpu: list[list[float]]

    def blocks(self, clock: str) -> list[list[float]]:
        return self.wall if clock == "wall" else self.thread_cpu


def time_repeats(
    fn: Callable[[], object], warmup: int, runs: int, repeats: int, max_seconds: float | None = None
) -> Timings:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` blocks of ``runs`` timed calls.

    Each call is timed on three clocks: wall time, the calling thread's CPU time and the process's CPU time.
    With ``max_seconds``, ``runs`` is lowered (not below ``MIN_RUNS``) so the timed blocks take about that long,
    judged from the last warm-up call. The garbage collector is paused inside each timed block so a collection
    does not land in a run.
    """
    last = None
    for _ in range(max(warmup, 1 if max_seconds else 0)):
        t0 = time.perf_counter()
        fn()
        last = time.perf_counter() - t0
    if max_seconds and last and last > 0:
        fit = int(max_seconds / (repeats * last))
        fitted = min(runs, max(MIN_RUNS, fit))
        if fitted < runs:
            log.info("%d runs per repeat (%.0f ms each) to stay near %.0f s", fitted, last * 1e3, max_seconds)
        runs = fitted
    out = Timings([], [], [])
    for _ in range(repeats):
        # The young generations hold what the warm-up and the last block left; a full collection would also walk
        # every object of torch, TensorFlow and the caller (~0.1 s a call in a test process) for no gain, since
        # the collector is paused during the block anyway.
        gc.collect(1)
        was_enabled = gc.isenabled()
        gc.disable()
        wall, tcpu, pcpu = [], [], []
        try:
            for _ in range(runs):
                w0, t0, p0 = time.perf_counter_ns(), time.thread_time_ns(), time.process_time_ns()
                fn()
                w1, t1, p1 = time.perf_counter_ns(), time.thread_time_ns(), time.process_time_ns()
                wall.append((w1 - w0) / 1e6)
                tcpu.append((t1 - t0) / 1e6)
                pcpu.append((p1 - p0) / 1e6)
        finally:
            if was_enabled:
                gc.enable()
        out.wall.append(wall)
        out.thread_cpu.append(tcpu)
        out.process_cpu.append(pcpu)
    return out


def make_input(spec: dict[str, Any], seed: int = 0) -> np.ndarray:
    """A deterministic input for one manifest input spec (shape, dtype)."""
    rng = np.random.default_rng(seed)
    shape = [int(d) if isinstance(d, int) and d > 0 else 1 for d in spec["shape"]]
    dtype = np.dtype(spec.get("dtype", "float32"))
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


def torch_input_spec(input_size: Sequence[int]) -> dict[str, Any]:
    return {"shape": [1, 3, int(input_size[0]), int(input_size[1])], "dtype": "float32"}


def _torch_timer(model: Any, x: np.ndarray) -> Callable[[], object]:
    import torch

    tx = torch.from_numpy(x)
    model = model.eval()

    def call() -> object:
        with torch.inference_mode():
            return model(tx)

    return call


def measure(
    fn: Callable[[], object],
    /,
    *,
    warmup: int,
    runs: int,
    repeats: int,
    cv_limit: float = CV_LIMIT,
    repeat_spread_limit: float = REPEAT_SPREAD_LIMIT,
    max_seconds: float | None = None,
    clock: str = "wall",
    **ident: Any,
) -> BenchResult:
    """Time ``fn`` and wrap the statistics in a result carrying ``ident`` (target, runtime, format, ...).

    ``clock="wall"`` times latency as a user sees it. ``clock="cpu"`` times the CPU time of the calling thread:
    on a machine shared with other work it leaves out the time the thread waited for a CPU, and it is only
    meaningful for single-threaded inference that runs on the calling thread (both are checked). Either way
    the other clock's median and the thread's share of the wall time are kept in ``details``.
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    if clock == "cpu" and ident.get("threads", 1) != 1:
        raise ValueError("--clock cpu times one thread's CPU time: use it with a single thread")
    t = time_repeats(fn, warmup, runs, repeats, max_seconds)
    stats = summarize(t.blocks(clock), cv_limit, repeat_spread_limit)
    result = result_from_stats(stats, warmup=warmup, clock=clock, **ident)
    wall = float(np.sum(t.wall))
    tcpu = float(np.sum(t.thread_cpu))
    pcpu = float(np.sum(t.process_cpu))
    share = tcpu / wall if wall > 0 else None
    elsewhere = 1.0 - tcpu / pcpu if pcpu > 0 else 0.0
    result.details.update(
        wall_median_ms=float(np.median(np.concatenate(t.wall))),
        thread_cpu_median_ms=float(np.median(np.concatenate(t.thread_cpu))),
        cpu_share=share,  # the timed thread's CPU time / wall time
        cpu_elsewhere=elsewhere,  # share of the process's CPU time spent on other threads
    )
    if clock == "wall" and ident.get("threads", 1) == 1 and share is not None and share < CPU_SHARE_LIMIT:
        result.noisy = True
        result.noise_reasons.append(f"CPU contention: the thread was on a CPU {share:.0%} of the wall time")
    if clock == "cpu" and elsewhere > 0.10:
        result.noisy = True
        why = f"{elsewhere:.0%} of the CPU time ran on other threads: thread CPU time undercounts"
        result.noise_reasons.append(why)
    return result


def time_torch(
    model: Any,
    hw: Sequence[int],
    threads: int,
    /,
    *,
    warmup: int,
    runs: int,
    repeats: int,
    cv_limit: float = CV_LIMIT,
    repeat_spread_limit: float = REPEAT_SPREAD_LIMIT,
    seed: int = 0,
    max_seconds: float | None = None,
    clock: str = "wall",
    **ident: Any,
) -> BenchResult:
    """Time a PyTorch module on one H x W input with ``threads`` intra-op threads."""
    import torch

    x = make_input(torch_input_spec(hw), seed)
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return measure(
            _torch_timer(model, x),
            warmup=warmup,
            runs=runs,
            repeats=repeats,
            cv_limit=cv_limit,
            repeat_spread_limit=repeat_spread_limit,
            max_seconds=max_seconds,
            clock=clock,
            **{**ident, "threads": threads},
        )
    finally:
        torch.set_num_threads(prev)


# --- export folders -----------------------------------------------------------------------------------------
def verify_export(
    artifacts: Path,
    entries: list[dict[str, Any]],
    timed: list[dict[str, Any]],
    factory: Callable[[Path, dict[str, Any], int], Any],
) -> None:
    """Before anything is timed: every selected file exists and has its manifest sha256, and every file to be
    timed loads and takes the inputs its manifest entry declares (the checks parity and evaluation make, through
    the same functions). A damaged, truncated, deleted or swapped file ends here in one line."""
    from shufflenet.export.manifest import verify_artifact
    from shufflenet.export.runtimes.base import Runner

    for e in entries:
        verify_artifact(artifacts, e)
    for e in timed:
        try:
            runner = factory(artifacts, e, 1)
        except (RuntimeError, ValueError, OSError) as err:
            raise ValueError(f"{e['path']} cannot be loaded ({error_line(err)}); re-run shufflenet-export") from None
        if isinstance(runner, Runner):
            from shufflenet.export.parity import check_signature

            check_signature(runner)


def load_file_runner(artifacts: Path, entry: dict[str, Any], threads: int) -> Any:
    try:
        from shufflenet.export.runtimes.loader import load_runner
    except ImportError as e:
        raise ValueError(f"the export library is not available ({e}); install shufflenet-mobile[export]") from None
    return load_runner(artifacts, entry, threads)


def _uninstalled_runtimes() -> dict[str, str]:
    """Runtimes of an optional extra that is not installed here, with the reason a file of theirs is skipped."""
    import importlib.util

    if importlib.util.find_spec("executorch") is None:
        return {"executorch": "ExecuTorch is not installed: pip install 'shufflenet-mobile[executorch]'"}
    return {}


def runner_coverage(runner: Any, entry: dict[str, Any]) -> dict[str, Any] | None:
    """XNNPACK coverage read from a LiteRT runner's own interpreter (after delegation, at its thread count), with
    the GPU verdict the export recorded; for a .pte file, the export's count with what the file itself calls
    (delegates and portable kernels, read back from it); None for other runtimes."""
    if entry.get("format") == "executorch":
        from shufflenet.export.runtimes.executorch_pte import pte_delegate_calls

        return {**(entry.get("delegate_coverage") or {}), "file": pte_delegate_calls(runner.path)}
    interp = getattr(runner, "interp", None)
    if interp is None:
        return None
    from shufflenet.export.formats.delegation import interpreter_coverage

    cov = interpreter_coverage(interp).to_dict()
    recorded = entry.get("delegate_coverage") or {}
    cov["gpu_compatible"], cov["gpu_issues"] = recorded.get("gpu_compatible"), recorded.get("gpu_issues", [])
    return cov


RunnerFactory = Callable[[Path, dict[str, Any], int], Any]


def time_file(
    folder: Path,
    entry: dict[str, Any],
    threads: int,
    /,
    *,
    warmup: int,
    runs: int,
    repeats: int,
    seed: int = 0,
    runner_factory: RunnerFactory | None = None,
    **measure_kw: Any,
) -> BenchResult:
    """Time one exported file (a manifest entry in ``folder``) with ``threads`` threads on a fixed random input.

    The file runs once before timing, so a file that cannot run fails here with its own message, not inside
    the timing loop. ``measure_kw``: ``measure``'s limits and clock, and the result's identity fields (a
    ``threads`` among them is overridden by ``threads``).
    """
    runner = (runner_factory or load_file_runner)(folder, entry, threads)
    x = make_input(entry["inputs"][0], seed)
    measure_kw.setdefault(
        "delegate", getattr(runner, "delegate", None) or DEFAULT_DELEGATE.get(entry.get("runtime", ""), "cpu")
    )
    runner.run_raw(x)
    measure_kw["threads"] = threads
    result = measure(lambda: runner.run_raw(x), warmup=warmup, runs=runs, repeats=repeats, **measure_kw)
    coverage = runner_coverage(runner, entry)
    if coverage:
        result.details["delegate_coverage"] = coverage
    arithmetic = getattr(runner, "arithmetic", None)
    if arithmetic is not None:  # a file that allows float16 arithmetic: say what this host computed it in
        result.details["arithmetic"] = {"file_allows": "fp16", "used": arithmetic.arithmetic,
                                        "reason": arithmetic.reason}  # fmt: skip
        result.details["arithmetic_note"] = f"{arithmetic.arithmetic} arithmetic: {arithmetic.reason}"
        if arithmetic.arithmetic != "fp16":
            log.warning("%s allows float16 arithmetic, but %s", entry["path"], arithmetic.reason)
    return result


def run_host(
    cfg: HostConfig,
    save: Callable[[BenchReport], None] | None = None,
    runner_factory: RunnerFactory | None = None,
) -> BenchReport:
    """Time every selected file of the export folder at every thread count."""
    cfg.validate()
    artifacts = Path(cfg.artifacts)
    try:
        from shufflenet.export.manifest import read_manifest
    except ImportError as e:
        raise ValueError(f"the export library is not available ({e}); install shufflenet-mobile[export]") from None
    manifest = read_manifest(artifacts)  # the reader parity and evaluation use: schema and fields checked
    factory = runner_factory or load_file_runner
    report = BenchReport(kind="host", environment=host_environment(), config=_config_dict(cfg))
    arch = manifest.get("arch")
    input_size = list(manifest["input_size"]) if manifest.get("input_size") else None
    macs = (manifest.get("complexity") or {}).get("macs") or None
    entries = list(manifest.get("artifacts", []))
    if cfg.files:
        names = {e["path"] for e in entries}
        missing = [f for f in cfg.files if f not in names]
        if missing:
            raise ValueError(f"not in {artifacts}/manifest.json: {', '.join(missing)}")
        entries = [e for e in entries if e["path"] in cfg.files]
    absent = _uninstalled_runtimes()
    timed = [e for e in entries if e.get("runtime", "") in cfg.runtimes and e.get("runtime") not in absent]
    verify_export(artifacts, entries, timed, factory)
    skipped = []
    for entry in entries:
        runtime = entry.get("runtime", "")
        if runtime not in cfg.runtimes or runtime in absent:
            if entry.get("npu"):  # no --runtimes value times it: only the phone's NPU runs it
                why = (
                    f"compiled for the {entry['npu'].get('soc')} NPU, which only the phone runs: time it with "
                    "shufflenet-bench android --npu-libs DIR (its parity on the HTP emulator: shufflenet-parity)"
                )
            elif entry.get("format") == "coreml":
                why = (
                    "Core ML runs only on Apple hardware; the NumPy evaluator used elsewhere is a reference, not timed"
                )
            elif runtime in absent:
                why = absent[runtime]
            elif runtime in HOST_RUNTIMES:
                why = f"runtime {runtime} not selected (--runtimes)"
            else:
                why = f"runtime {runtime} does not run on this host"
            skipped.append({"path": entry["path"], "runtime": runtime, "reason": why})
            continue
        for threads in cfg.threads:
            ident = dict(
                target="host",
                runtime=runtime,
                format=entry.get("format", ""),
                precision=entry.get("precision", ""),
                path=entry["path"],
                threads=threads,
                arch=arch,
                input_size=input_size,
                macs=macs,
                variant=entry.get("variant"),
            )
            log.info("time %s (%s, %d thread%s)", entry["path"], runtime, threads, "s" if threads > 1 else "")
            try:
                result = time_file(
                    artifacts,
                    entry,
                    threads,
                    warmup=cfg.warmup,
                    runs=cfg.runs,
                    repeats=cfg.repeats,
                    seed=cfg.seed,
                    runner_factory=factory,
                    cv_limit=cfg.cv_limit,
                    repeat_spread_limit=cfg.repeat_spread_limit,
                    max_seconds=cfg.max_seconds,
                    clock=cfg.clock,
                    **ident,
                )
            except (ValueError, OSError, RuntimeError, KeyError, ImportError) as e:
                msg = error_line(e)
                result = failed_result(msg, delegate=DEFAULT_DELEGATE.get(runtime, "cpu"), warmup=cfg.warmup, **ident)
                report.errors.append(f"{entry['path']} threads={threads}: {msg}")
                log.error("%s threads=%d: %s", entry["path"], threads, msg)
            report.results.append(result)
            if save:
                save(report)
    if "pytorch" in cfg.runtimes and arch:
        from shufflenet.model.registry import UnknownVariantError, get_variant

        try:
            variant = get_variant(arch)
        except UnknownVariantError as e:
            report.errors.append(f"pytorch: {e}")
        else:
            size = input_size or list(variant.input_size)
            for threads in cfg.threads:
                log.info("time PyTorch %s (%d thread%s)", arch, threads, "s" if threads > 1 else "")
                model = variant.build()
                result = time_torch(
                    model,
                    size,
                    threads,
                    warmup=cfg.warmup,
                    runs=cfg.runs,
                    repeats=cfg.repeats,
                    cv_limit=cfg.cv_limit,
                    repeat_spread_limit=cfg.repeat_spread_limit,
                    seed=cfg.seed,
                    max_seconds=cfg.max_seconds,
                    clock=cfg.clock,
                    target="host",
                    runtime="pytorch",
                    format="pytorch",
                    precision="fp32",
                    path=f"pytorch:{arch}",
                    delegate="cpu",
                    arch=arch,
                    input_size=size,
                    macs=macs,
                    variant="eager",
                )
                result.details["weights"] = "registry initialisation (latency does not depend on the values)"
                report.results.append(result)
                if save:
                    save(report)
    report.config["skipped"] = skipped
    finish_environment(report.environment)
    if save:
        save(report)
    return report


def _config_dict(cfg: HostConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["artifacts"] = str(cfg.artifacts)
    return d
