"""ExecuTorch .pte files on an Android device: the user's ``executor_runner`` build, driven over adb.

ExecuTorch ships no prebuilt runner: the user cross-compiles ``executor_runner`` with the XNNPACK backend for the
phone (docs/benchmarks.md) and passes it as ``--pte-runner``. Per file, thread count and repeat: an untimed
warm-up invocation (``--num_executions=WARMUP``), the logcat cleared, then the timed invocation
(``--num_executions=RUNS --cpu_threads=THREADS``) pinned with ``taskset`` to the chosen cores. The runner's
standard output and error go to a file on the device; its log lines (the timings among them) go to logcat on an
Android build (tag ``ExecuTorch``) or to standard error on a build with the default platform layer, so both are
read and parsed together (``pte_runner_output``). Thermal zones and the battery are read around each timed run as
for ``benchmark_model``; the device and its cores come from the same session (``android._session``).
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shufflenet.benchmarks.phone_latency import adb as adbm
from shufflenet.benchmarks.phone_latency.adb import Adb
from shufflenet.benchmarks.phone_latency.pte_runner_output import ParsedRunnerOutput, parse_runner_output
from shufflenet.benchmarks.reports.results import BenchReport, BenchResult, failed_result, result_from_stats
from shufflenet.benchmarks.reports.stats import SummaryPart, pool_summaries

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
                                 list(m["input_size"]), macs))  # fmt: skip
    if not found:
        raise ValueError(f"no .pte files in {artifacts}: export them with shufflenet-export --format executorch")
    return found


def runner_command(runner: str, mask: str | None, model: str, threads: int, executions: int, out: str) -> str:
    argv = [runner, f"--model_path={model}", f"--num_executions={executions}", f"--cpu_threads={threads}"]
    if mask:
        argv = ["taskset", mask, *argv]
    return " ".join(shlex.quote(a) for a in argv) + f" > {shlex.quote(out)} 2>&1"


def _invoke(adb: Adb, cmd: str, remote_out: str, local_out: Path, timeout: float, what: str) -> tuple[int, str]:
    adb.shell(f"rm -f {shlex.quote(remote_out)}", what="clean-up")
    res = adb.shell(cmd, timeout=timeout, what=what)
    try:
        local_out.unlink(missing_ok=True)
        adb.pull(remote_out, local_out)
        text = local_out.read_text(errors="replace")
    except adbm.PullFailed:
        text = res.stdout
    return res.returncode, text + ("\n" if text and not text.endswith("\n") else "")


def run_pte_files(
    cfg: Any,
    adb: Adb,
    serial: str,
    mask: str,
    cores: list[int],
    report: BenchReport,
    persist: Callable[[], None],
    sleep: Callable[[float], None] = time.sleep,
    tmp: Path | None = None,
    warming: Callable[[dict[str, float], dict[str, float]], float | None] = lambda a, b: None,
) -> list[str]:
    """Time every .pte file of ``cfg.artifacts`` with ``cfg.pte_runner``; results go into ``report``. Returns the
    device paths it pushed (for the session's clean-up). ``warming``: the session's rule for a thermal rise."""
    files = pte_files(Path(cfg.artifacts), [f for f in cfg.files or [] if f.endswith(".pte")] or None)
    runner = f"{cfg.remote_dir}/executor_runner"
    adb.push(Path(cfg.pte_runner), runner)
    r = adb.shell(f"chmod 755 {shlex.quote(runner)}", what="chmod of executor_runner")
    if r.returncode != 0:
        raise adbm.BenchError(f"chmod of {runner} failed: {adbm.first_line(r.stderr + r.stdout)}")
    pushed = [runner]
    for f in files:
        remote = f"{cfg.remote_dir}/{f.path.name}"
        adb.push(f.path, remote)
        pushed.append(remote)
    remote_out = f"{cfg.remote_dir}/shufflenet_pte_output.txt"
    pushed.append(remote_out)
    local = (tmp or Path(".")) / "pte_out.txt"
    for f in files:
        for threads in cfg.threads:
            what = f"{f.name} threads={threads}"
            ident = dict(target=serial, runtime="executor_runner", format="executorch", precision=f.precision,
                         path=f.name, threads=threads, delegate="xnnpack", warmup=cfg.warmup, arch=f.arch,
                         input_size=f.input_size, macs=f.macs, variant=f.variant)  # fmt: skip
            records: list[dict[str, Any]] = []
            parts: list[SummaryPart] = []
            failure = None
            for k in range(cfg.repeats):
                if (k or f is not files[0] or threads != cfg.threads[0]) and cfg.cooldown_s > 0:
                    sleep(cfg.cooldown_s)
                model = f"{cfg.remote_dir}/{f.path.name}"
                if cfg.warmup:
                    cmd = runner_command(runner, mask, model, threads, cfg.warmup, remote_out)
                    _invoke(adb, cmd, remote_out, local, cfg.run_timeout_s, f"the warm-up of {what}")
                adb.shell("logcat -c", what="logcat clear")
                before = adbm.read_thermal(adb)
                cmd = runner_command(runner, mask, model, threads, cfg.runs, remote_out)
                rc, text = _invoke(adb, cmd, remote_out, local, cfg.run_timeout_s, f"the benchmark run of {what}")
                logcat = adb.shell(f"logcat -d -s {LOGCAT_TAG}:I", what="logcat read").stdout
                after = adbm.read_thermal(adb)
                parsed = parse_runner_output(text + logcat)
                records.append({"exit_status": rc, "parsed": parsed.to_dict(), "raw_output": text,
                                "logcat": logcat, "thermal_before_c": before, "thermal_after_c": after,
                                "warming_c": warming(before, after)})  # fmt: skip
                failure = _judge(rc, parsed)
                if failure is not None:
                    break
                assert parsed.timings is not None
                t = parsed.timings
                parts.append(SummaryPart(count=t.count, mean_ms=t.mean_ms, std_ms=t.std_ms, min_ms=t.min_ms,
                                         max_ms=t.max_ms, median_ms=t.median_ms))  # fmt: skip
            result = _result(parts, failure, records, ident, mask, cores)
            report.results.append(result)
            if result.status != "ok":
                report.errors.append(f"{what}: {result.error}")
                log.error("%s: %s", what, result.error)
            persist()
    return pushed


def _judge(rc: int, parsed: ParsedRunnerOutput) -> tuple[str, str] | None:
    if rc >= 128:
        return "failed", f"executor_runner crashed (signal {rc - 128})"
    if rc != 0:
        why = parsed.failure_lines[0] if parsed.failure_lines else "no message"
        return "failed", f"executor_runner exited with status {rc}: {why}"
    if not parsed.ok:
        return "unparsed", f"{parsed.problem} (raw output kept)"
    return None


def _result(
    parts: list[SummaryPart],
    failure: tuple[str, str] | None,
    records: list[dict[str, Any]],
    ident: dict[str, Any],
    mask: str,
    cores: list[int],
) -> BenchResult:
    details = {"cores_mask": mask, "cores": cores, "repeats": records}
    if failure is not None:
        status, message = failure
        return failed_result(message, status=status, repeats=len(records), details=details, **ident)
    result = result_from_stats(pool_summaries(parts), **ident)
    result.details = details
    return result
