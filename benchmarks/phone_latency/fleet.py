"""Many phones in one run: one worker per phone (at most ``max_parallel`` at once), every result in one report,
saved after every cell; ``--resume`` keeps an earlier run's good cells and runs only the missing or failed ones.

Phones are independent, so the run takes about as long as its slowest phone. Each worker is a thread that mostly
waits for its own ``adb`` processes; a phone's cells still run one after another, as on a single phone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shufflenet.benchmarks.phone_latency.model_files import ModelFile
from shufflenet.benchmarks.phone_latency.pte_android import PteFile
from shufflenet.benchmarks.phone_latency.selection import Selection
from shufflenet.benchmarks.phone_latency.session import DeviceSession, all_cells
from shufflenet.benchmarks.reports.results import BenchReport, BenchResult, read_json
from shufflenet.model.files import sha256_path

if TYPE_CHECKING:
    from shufflenet.benchmarks.phone_latency.config import AndroidConfig

log = logging.getLogger(__name__)

RESUME_MUST_MATCH = ("warmup", "runs", "repeats", "cores", "op_profiling")
KEPT = ("ok", "skipped")  # cells a resumed run does not repeat


class FleetSink:
    """The run's one report, shared by the workers: results in device order then cell order, saved each time."""

    def __init__(self, report: BenchReport, persist: Callable[[], None], targets: list[str]) -> None:
        self.report = report
        self._persist = persist
        self._lock = threading.RLock()
        self._rank = {t: i for i, t in enumerate(targets)}
        self._results: dict[tuple[int, int], BenchResult] = {}

    def _place(self, target: str, order: int, result: BenchResult) -> None:
        rank = self._rank.setdefault(target, len(self._rank))
        self._results[(rank, order)] = result
        self.report.results = [self._results[k] for k in sorted(self._results)]

    def keep(self, target: str, order: int, result: BenchResult) -> None:
        with self._lock:
            self._place(target, order, result)

    def device(self, target: str, info: dict[str, Any]) -> None:
        with self._lock:
            devices = {**self.report.environment.get("devices", {}), target: info}
            rank = lambda t: self._rank.get(t, len(self._rank))  # noqa: E731
            self.report.environment["devices"] = {t: devices[t] for t in sorted(devices, key=rank)}
            self._persist()

    def result(self, target: str, order: int, result: BenchResult) -> None:
        with self._lock:
            self._place(target, order, result)
            self._persist()

    def error(self, line: str) -> None:
        with self._lock:
            self.report.errors.append(line)
            self._persist()


@dataclass
class Previous:
    """What an earlier run of the same measurement holds (``--resume``)."""

    results: list[BenchResult] = field(default_factory=list)
    devices: dict[str, Any] = field(default_factory=dict)


def read_previous(cfg: AndroidConfig) -> Previous:
    """The earlier results file, after checking it measured the same way (else a one-line ValueError)."""
    path = Path(cfg.resume)  # type: ignore[arg-type]
    rep = read_json(path)
    if rep.kind not in ("android", "table8-android"):
        raise ValueError(f"--resume {path}: it holds shufflenet-bench {rep.kind or '?'} results, not android ones")
    for key in RESUME_MUST_MATCH:
        old, new = rep.config.get(key), getattr(cfg, key)
        if old is not None and old != new:
            raise ValueError(f"--resume {path}: it was measured with {key}={old}, this run asks {new}; use the same "
                             "options, or write to another --json")  # fmt: skip
    for name, tool in cfg.tools.items():
        old = (rep.environment.get(name) or {}).get("sha256")
        if old and old != sha256_path(tool):
            raise ValueError(f"--resume {path}: it was measured with another {tool.name} (sha256 {old[:12]}...); "
                             "use that binary, or write to another --json")  # fmt: skip
    return Previous(rep.results, dict(rep.environment.get("devices") or {}))


def _key(r: BenchResult) -> tuple[str, str, int, str]:
    return (r.target, r.path, r.threads, r.delegate)


def run_fleet(
    cfg: AndroidConfig,
    selection: Selection,
    files: list[ModelFile],
    report: BenchReport,
    persist: Callable[[], None],
    previous: Previous | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    ptes: list[PteFile] | None = None,
) -> None:
    cells = all_cells(files, cfg, ptes)
    targets = [c.target for c in selection.chosen]
    sink = FleetSink(report, persist, targets)
    done: set[tuple[str, str, int, str]] = set()
    if previous is not None:
        done = _keep_previous(previous, [*files, *(ptes or [])], cells, targets, sink, report)
    stop = threading.Event()
    sessions = []
    for c in selection.chosen:
        todo = [x for x in cells if x.key(c.target) not in done]
        sessions.append(DeviceSession(cfg, c.entry, c.target, todo, sink, sleep, clock, stop))
    workers = max(1, min(len(sessions), cfg.max_parallel or len(sessions)))
    log.info("%d device(s), %d at a time, %d cell(s) to time: %s", len(sessions), workers,
             sum(len(s.cells) for s in sessions), ", ".join(targets))  # fmt: skip
    persist()
    if workers == 1:
        for s in sessions:
            s.run()
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="device") as pool:
        futures = [pool.submit(s.run) for s in sessions]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in [*done, *futures]:
                future.result()  # a bug in a worker surfaces here; a phone's own failures never raise
        except BaseException:  # Ctrl-C, SIGTERM: the phones at work stop at their next run, the rest never start
            stop.set()
            for future in futures:
                future.cancel()
            raise


def _keep_previous(
    previous: Previous, files: list[ModelFile | PteFile], cells: list, targets: list[str], sink: FleetSink,
    report: BenchReport,
) -> set[tuple[str, str, int, str]]:  # fmt: skip
    """Put the earlier run's results in the report; the keys of the cells not to run again."""
    sha = {f.name: f.sha256 for f in files}
    order = {(c.file.name, c.threads, c.delegate): c.order for c in cells}
    done = set()
    stale: dict[str, int] = {}
    for i, r in enumerate(previous.results):
        planned = r.target in targets and (r.path, r.threads, r.delegate) in order
        good = r.status in KEPT and r.details.get("file_sha256") == sha.get(r.path)
        if planned and not good:
            continue  # run again
        sink.keep(r.target, order.get((r.path, r.threads, r.delegate), len(cells) + i), r)
        if planned:
            done.add(_key(r))
        elif r.status not in KEPT:
            stale[r.target] = stale.get(r.target, 0) + 1
    for target, n in stale.items():
        report.errors.append(f"{target}: {n} cell(s) of the earlier run failed and were not run again (the device "
                             "is not in this run, or the cell is not asked)")  # fmt: skip
    for target, info in previous.devices.items():
        report.environment.setdefault("devices", {}).setdefault(target, info)
    log.info("--resume: %d cell(s) kept from the earlier run", len(done))
    return done
