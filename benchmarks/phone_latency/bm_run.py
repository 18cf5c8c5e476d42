"""One ``benchmark_model`` run on a phone, how it is judged, and the result of a cell's runs.

The run goes to the background on the phone with its process id written to a file, and the shell waits for it:
``[VAR=v ...] taskset MASK benchmark_model ... > OUT 2>&1 & echo $! > PIDFILE; wait $!``. Its exit status is
``wait``'s; its output is pulled from OUT and kept verbatim beside the parsed figures. A run that takes longer
than the timeout (a hung ``benchmark_model``) is killed on the phone by that process id, not by name.
"""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shufflenet.benchmarks.phone_latency import adb as adbm
from shufflenet.benchmarks.phone_latency.adb import Adb, BenchError, first_line
from shufflenet.benchmarks.phone_latency.bm_output import ParsedOutput, delegate_unavailable, parse_output
from shufflenet.benchmarks.phone_latency.device import DeviceInfo, elf_abi
from shufflenet.benchmarks.phone_latency.thermal import Reading, read_state, warming
from shufflenet.benchmarks.reports.results import BenchResult, failed_result, result_from_stats
from shufflenet.benchmarks.reports.stats import SummaryPart, pool_summaries

if TYPE_CHECKING:
    from shufflenet.benchmarks.phone_latency.config import AndroidConfig

log = logging.getLogger(__name__)

DELEGATE_FLAGS = {
    "cpu": ["--use_xnnpack=false"],
    "xnnpack": ["--use_xnnpack=true"],
    "gpu": ["--use_gpu=true"],
    "nnapi": ["--use_nnapi=true"],
    "npu": ["--use_npu=true"],  # with --dispatch_library_dir (benchmark_command)
}
SIGNALS = {11: "SIGSEGV", 6: "SIGABRT", 9: "SIGKILL", 7: "SIGBUS", 4: "SIGILL"}


class BinaryNotRunnable(BenchError):
    pass


@dataclass(frozen=True)
class RemotePaths:
    binary: str
    output: str
    pid: str


def remote_paths(remote_dir: str) -> RemotePaths:
    return RemotePaths(f"{remote_dir}/benchmark_model", f"{remote_dir}/shufflenet_bench_output.txt",
                       f"{remote_dir}/shufflenet_bench.pid")  # fmt: skip


def benchmark_command(
    cfg: AndroidConfig, mask: str | None, remote_model: str, threads: int, delegate: str, paths: RemotePaths
) -> str:
    """The device shell line for one ``benchmark_model`` run (output to a file, process id to another)."""
    argv = [
        paths.binary,
        f"--graph={remote_model}",
        f"--num_threads={threads}",
        f"--warmup_runs={cfg.warmup}",
        f"--num_runs={cfg.runs}",
        "--warmup_min_secs=0",
        "--min_secs=0",
        *DELEGATE_FLAGS[delegate],
    ]
    if cfg.op_profiling:
        argv.append("--enable_op_profiling=true")
    if delegate == "npu":
        argv.append(f"--dispatch_library_dir={cfg.remote_npu_dir}")
    if mask:
        argv = ["taskset", mask, *argv]
    if delegate == "npu":  # the dispatch library finds the QNN libraries, and the DSP its skeleton, there
        argv = [f"LD_LIBRARY_PATH={cfg.remote_npu_dir}", f"ADSP_LIBRARY_PATH={cfg.remote_npu_dir}", *argv]
    line = " ".join(shlex.quote(a) for a in argv)
    return f"{line} > {shlex.quote(paths.output)} 2>&1 & echo $! > {shlex.quote(paths.pid)}; wait $!"


_BUILDS = {"arm64-v8a": "android_aarch64 build", "armeabi-v7a": "android_arm build", "x86_64": "android_x86_64 build",
           "x86": "android_x86 build"}  # fmt: skip


def not_runnable(rc: int, msg: str, info: DeviceInfo, binary: Path) -> BinaryNotRunnable:
    if re.search(r"not executable|Exec format error|ELF", msg, re.IGNORECASE):
        local_abi = elf_abi(binary)
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
class Run:
    rc: int
    shell_message: str
    parsed: ParsedOutput
    before: Reading
    after: Reading
    hung_s: float | None = None  # killed after this many seconds

    @property
    def warming_c(self) -> float | None:
        return warming(self.before.zones_c, self.after.zones_c)

    def record(self) -> dict[str, Any]:
        return {
            "exit_status": self.rc,
            "shell_message": self.shell_message,
            "parsed": self.parsed.to_dict(),
            "raw_output": self.parsed.raw,
            "thermal_before_c": self.before.zones_c,
            "thermal_after_c": self.after.zones_c,
            "battery_before": self.before.battery,
            "battery_after": self.after.battery,
            "cpu_before": self.before.cpu.to_dict(),
            "cpu_after": self.after.cpu.to_dict(),
            "warming_c": self.warming_c,
            "killed_after_s": self.hung_s,
        }


def one_run(
    adb: Adb, cmd: str, paths: RemotePaths, local_out: Path, info: DeviceInfo, binary: Path, what: str,
    timeout_s: float,
) -> Run:  # fmt: skip
    before = read_state(adb)
    adb.shell(f"rm -f {shlex.quote(paths.output)} {shlex.quote(paths.pid)}", what="clean-up")
    log.info("%s: run %s", info.serial, what)
    hung = None
    try:
        res = adb.shell(cmd, timeout=timeout_s, what=f"the benchmark run of {what}")
        rc, shell_text = res.returncode, res.stderr + "\n" + res.stdout
    except adbm.CommandTimedOut:
        hung, rc, shell_text = timeout_s, 128 + 9, ""
        kill_run(adb, paths, info.serial, what)
    try:
        local_out.unlink(missing_ok=True)
        adb.pull(paths.output, local_out)
        text = local_out.read_text(errors="replace")
    except adbm.PullFailed:
        text = ""  # nothing written on the device: keep whatever the shell said
    except adbm.DeviceDisconnected as e:  # adb 29 ends the shell with status 0 when the phone vanishes mid-run
        message = str(e).replace(f"pull of {paths.output}", f"the benchmark run of {what}")
        raise adbm.DeviceDisconnected(message) from None
    # The shell's own words (crash signals) and the output's first line (exec errors land in the file).
    msg = first_line(shell_text) or (first_line(text) if rc in (126, 127) else "")
    if rc in (126, 127):
        raise not_runnable(rc, msg, info, binary)
    return Run(rc, msg, parse_output(text or shell_text), before, read_state(adb), hung)


def kill_run(adb: Adb, paths: RemotePaths, serial: str, what: str) -> None:
    """Kill a hung run on the phone by the process id it wrote (never by name: other programs may run there)."""
    pid = adb.shell(f"cat {shlex.quote(paths.pid)}", what=f"reading the process id of {what}").stdout.strip()
    if pid.isdigit():
        adb.shell(f"kill -9 {pid}", what=f"killing the hung run of {what}")
        log.warning("%s: %s hung: killed process %s on the phone", serial, what, pid)


def judge_run(run: Run, delegate: str) -> tuple[str, str] | None:
    """(status, message) of a failed run, or None when its figures can be used."""
    if run.hung_s is not None:
        return "failed", f"benchmark_model hung: killed after {run.hung_s:g} s (--run-timeout)"
    gone = delegate_unavailable(run.parsed)
    if gone is not None:
        return "failed", f"delegate {delegate} not available: {gone}"
    if run.rc >= 128:
        name = SIGNALS.get(run.rc - 128, f"signal {run.rc - 128}")
        return "failed", f"benchmark_model crashed ({name}{': ' + run.shell_message if run.shell_message else ''})"
    if run.rc != 0:
        why = run.parsed.failure_lines[0] if run.parsed.failure_lines else (run.shell_message or "no message")
        return "failed", f"benchmark_model exited with status {run.rc}: {why}"
    if not run.parsed.ok:
        return "unparsed", f"{run.parsed.problem} (raw output kept)"
    return None


def cell_result(
    runs: list[Run], failure: tuple[str, str] | None, ident: dict[str, Any], details: dict[str, Any],
    max_warming_c: float, baseline: dict[str, float],
) -> BenchResult:  # fmt: skip
    """The result of one cell (file x threads x delegate on one device) from its repeats."""
    details = {**details, "repeats": [r.record() for r in runs]}
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
    result = result_from_stats(pool_summaries(parts), **ident)
    rises = [r.warming_c for r in runs if r.warming_c is not None]
    drifts = [w for w in (warming(baseline, r.after.zones_c) for r in runs) if w is not None]
    hot = max(rises + drifts, default=None)
    details["max_warming_c"] = hot
    if hot is not None and hot > max_warming_c:
        result.noisy = True
        result.noise_reasons.append(
            f"device warmed by {hot:.1f} °C (limit {max_warming_c:g} °C) since the session started or during a "
            "run: throttling likely"
        )
    result.details = details
    return result
