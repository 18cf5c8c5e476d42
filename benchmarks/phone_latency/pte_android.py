"""ExecuTorch .pte files on an Android device: the user's ``executor_runner`` build, driven over adb.

ExecuTorch ships no prebuilt runner: the user cross-compiles ``executor_runner`` with the XNNPACK backend for the
phone (docs/benchmarks.md) and passes it as ``--pte-runner``. Per file, thread count and repeat: an untimed
warm-up invocation (``--num_executions=WARMUP``), the logcat cleared, then the timed invocation
(``--num_executions=RUNS --cpu_threads=THREADS``) pinned with ``taskset`` to the chosen cores. The runner's
standard output and error go to a file on the device; its log lines (the timings among them) go to logcat on an
Android build (tag ``ExecuTorch``) or to standard error on a build with the default platform layer, so both are
read and parsed together (``pte_runner_output``). The run goes to the background with its process id written to a
file, as ``benchmark_model``'s does (``bm_run``), so a hung runner is killed by that id after the timeout. The
temperatures and CPU state are read around each timed run as for ``benchmark_model``; the phone, its cores, its
cooling and its failures are the session's (``session``), one cell per file and thread count.
"""

from __future__ import annotations

import logging
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shufflenet.benchmarks.phone_latency import adb as adbm
from shufflenet.benchmarks.phone_latency.adb import Adb
from shufflenet.benchmarks.phone_latency.bm_run import RemotePaths, kill_run
from shufflenet.benchmarks.phone_latency.pte_runner_output import ParsedRunnerOutput, parse_runner_output
from shufflenet.benchmarks.phone_latency.thermal import read_state, warming
from shufflenet.benchmarks.reports.results import BenchResult, failed_result, result_from_stats
from shufflenet.benchmarks.reports.stats import SummaryPart, pool_summaries

if TYPE_CHECKING:
    from shufflenet.benchmarks.phone_latency.config import AndroidConfig

log = logging.getLogger(__name__)

LOGCAT_TAG = "ExecuTorch"


@dataclass
class PteFile:
    name: str
    path: Path
    precision: str
    variant: str | None
    arch: str | None
    input_size: list[int] | None
    macs: int | None
    sha256: str = ""
    npu: dict[str, Any] | None = None  # never: a .pte file runs on the CPU (XNNPACK)


def pte_files(artifacts: Path, only: list[str] | None = None) -> list[PteFile]:
    """The export's .pte files (from its manifest, each checked against its sha256), optionally a subset."""
    from shufflenet.export.manifest import read_manifest, verify_artifact

    m = read_manifest(artifacts)
    macs = (m.get("complexity") or {}).get("macs")
    found = []
    for e in m["artifacts"]:
        if e.get("format") == "executorch" and (not only or e["path"] in only):
            path = verify_artifact(artifacts, e)  # a file altered since export never reaches a phone
            found.append(PteFile(e["path"], path, e["precision"], e.get("variant"), m.get("arch"),
                                 list(m["input_size"]), macs, e["sha256"]))  # fmt: skip
    if not found:
        raise ValueError(f"no .pte files in {artifacts}: export them with shufflenet-export --format executorch")
    return found


def remote_paths(remote_dir: str) -> RemotePaths:
    return RemotePaths(f"{remote_dir}/executor_runner", f"{remote_dir}/shufflenet_pte_output.txt",
                       f"{remote_dir}/shufflenet_bench.pid")  # fmt: skip


def runner_command(runner: str, mask: str | None, model: str, threads: int, executions: int, paths: RemotePaths) -> str:
    argv = [runner, f"--model_path={model}", f"--num_executions={executions}", f"--cpu_threads={threads}"]
    if mask:
        argv = ["taskset", mask, *argv]
    line = " ".join(shlex.quote(a) for a in argv)
    return f"{line} > {shlex.quote(paths.output)} 2>&1 & echo $! > {shlex.quote(paths.pid)}; wait $!"


def _invoke(
    adb: Adb, cmd: str, paths: RemotePaths, local_out: Path, timeout: float, what: str
) -> tuple[int, str, float | None]:
    """(exit status, what the runner wrote, seconds after which it was killed or None)."""
    adb.shell(f"rm -f {shlex.quote(paths.output)} {shlex.quote(paths.pid)}", what="clean-up")
    hung = None
    try:
        rc = adb.shell(cmd, timeout=timeout, what=what).returncode
    except adbm.CommandTimedOut:
        rc, hung = 128 + 9, timeout
        kill_run(adb, paths, adb.serial or "", what)
    try:
        local_out.unlink(missing_ok=True)
        adb.pull(paths.output, local_out)
        text = local_out.read_text(errors="replace")
    except adbm.PullFailed:
        text = ""
    except adbm.DeviceDisconnected as e:  # adb 29 ends the shell with status 0 when the phone vanishes mid-run
        raise adbm.DeviceDisconnected(str(e).replace(f"pull of {paths.output}", what)) from None
    return rc, text + ("\n" if text and not text.endswith("\n") else ""), hung


def pte_cell(
    cfg: AndroidConfig, adb: Adb, f: PteFile, threads: int, mask: str, paths: RemotePaths, local_out: Path,
    ident: dict[str, Any], details: dict[str, Any], sleep: Callable[[float], None], first: bool,
    stop: threading.Event | None = None,
) -> BenchResult:  # fmt: skip
    """One cell: ``cfg.repeats`` timed invocations of the runner on ``f`` (each after an untimed warm-up)."""
    what = f"{f.name} threads={threads}"
    model = f"{cfg.remote_dir}/{f.path.name}"
    records: list[dict[str, Any]] = []
    parts: list[SummaryPart] = []
    failure = None
    for k in range(cfg.repeats):
        if stop is not None and stop.is_set():
            raise adbm.BenchError("interrupted")
        if not (first and k == 0) and cfg.cooldown_s > 0:
            sleep(cfg.cooldown_s)
        if cfg.warmup:
            cmd = runner_command(paths.binary, mask, model, threads, cfg.warmup, paths)
            _invoke(adb, cmd, paths, local_out, cfg.run_timeout_s, f"the warm-up of {what}")
        adb.shell("logcat -c", what="logcat clear")
        before = read_state(adb)
        cmd = runner_command(paths.binary, mask, model, threads, cfg.runs, paths)
        log.info("%s: run %s", adb.serial, what)
        rc, text, hung = _invoke(adb, cmd, paths, local_out, cfg.run_timeout_s, f"the benchmark run of {what}")
        logcat = adb.shell(f"logcat -d -s {LOGCAT_TAG}:I", what="logcat read").stdout
        after = read_state(adb)
        parsed = parse_runner_output(text + logcat)
        records.append({"exit_status": rc, "parsed": parsed.to_dict(), "raw_output": text, "logcat": logcat,
                        "thermal_before_c": before.zones_c, "thermal_after_c": after.zones_c,
                        "cpu_before": before.cpu.to_dict(), "cpu_after": after.cpu.to_dict(),
                        "warming_c": warming(before.zones_c, after.zones_c), "killed_after_s": hung})  # fmt: skip
        failure = _judge(rc, parsed, hung)
        if failure is not None:
            break
        assert parsed.timings is not None
        t = parsed.timings
        parts.append(SummaryPart(count=t.count, mean_ms=t.mean_ms, std_ms=t.std_ms, min_ms=t.min_ms,
                                 max_ms=t.max_ms, median_ms=t.median_ms))  # fmt: skip
    details = {**details, "repeats": records}
    if failure is not None:
        status, message = failure
        return failed_result(message, status=status, repeats=len(records), details=details, **ident)
    result = result_from_stats(pool_summaries(parts), **ident)
    result.details = details
    return result


def _judge(rc: int, parsed: ParsedRunnerOutput, hung: float | None = None) -> tuple[str, str] | None:
    if hung is not None:
        return "failed", f"executor_runner hung: killed after {hung:g} s (--run-timeout)"
    if rc >= 128:
        return "failed", f"executor_runner crashed (signal {rc - 128})"
    if rc != 0:
        why = parsed.failure_lines[0] if parsed.failure_lines else "no message"
        return "failed", f"executor_runner exited with status {rc}: {why}"
    if not parsed.ok:
        return "unparsed", f"{parsed.problem} (raw output kept)"
    return None
