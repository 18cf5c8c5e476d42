"""One phone's session: record what it is, push ``benchmark_model`` (and ExecuTorch's ``executor_runner``) and
the files, then time its cells (file x threads x delegate) one after another, pinned with ``taskset``, cooled
before each file and between runs.

A failure of one cell (a delegate that is not there, ``benchmark_model`` crashing, exiting non-zero, hanging past
the timeout, or printing what cannot be read) fails that cell and the session goes on. A failure of the phone (it
vanished, turned unauthorized, ran out of space, cannot run the binary) fails its remaining cells with one line
naming the phone and the step; other phones are not touched. Files compiled for an NPU run only on a phone of that
SoC; on the others they are "not for this SoC" (status ``skipped``), not failed.
"""

from __future__ import annotations

import logging
import shlex
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shufflenet.benchmarks.phone_latency import adb as adbm
from shufflenet.benchmarks.phone_latency.adb import Adb, BenchError, DeviceEntry, first_line
from shufflenet.benchmarks.phone_latency.bm_run import (
    BinaryNotRunnable,
    RemotePaths,
    Run,
    benchmark_command,
    cell_result,
    judge_run,
    one_run,
    remote_paths,
)
from shufflenet.benchmarks.phone_latency.device import (
    DeviceInfo,
    cores_mask,
    device_info,
    elf_abi,
    soc_mismatch,
)
from shufflenet.benchmarks.phone_latency.model_files import ModelFile
from shufflenet.benchmarks.phone_latency.pte_android import PteFile, pte_cell
from shufflenet.benchmarks.phone_latency.pte_android import remote_paths as pte_remote_paths
from shufflenet.benchmarks.phone_latency.thermal import (
    Cooling,
    CoolWait,
    capped_at_start,
    throttled_cores,
    wait_until_cool,
    warming,
)
from shufflenet.benchmarks.reports.results import BenchResult, failed_result

if TYPE_CHECKING:
    from shufflenet.benchmarks.phone_latency.config import AndroidConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cell:
    file: ModelFile | PteFile
    threads: int
    delegate: str
    order: int  # place in the phone's full list of cells (results are listed in this order)

    @property
    def is_pte(self) -> bool:
        return isinstance(self.file, PteFile)

    @property
    def what(self) -> str:
        return f"{self.file.name} threads={self.threads} delegate={self.delegate}"

    def key(self, target: str) -> tuple[str, str, int, str]:
        return (target, self.file.name, self.threads, self.delegate)


def all_cells(files: list[ModelFile], cfg: AndroidConfig, ptes: list[PteFile] | None = None) -> list[Cell]:
    """Every cell of one phone: the .pte files (XNNPACK) first, then the .tflite files; a compiled NPU file runs on
    its NPU only, CPU files with the delegates asked."""
    cells: list[Cell] = [Cell(f, t, "xnnpack", i) for i, (f, t) in enumerate((f, t) for f in ptes or []
                                                                          for t in cfg.threads)]  # fmt: skip
    for f in files:
        for threads in cfg.threads:
            for delegate in ["npu"] if f.npu else [d for d in cfg.delegates if d != "npu"]:
                cells.append(Cell(f, threads, delegate, len(cells)))
    return cells


class Sink(Protocol):
    """Where a session's findings go (the fleet's report, saved after every cell)."""

    def device(self, target: str, info: dict[str, Any]) -> None: ...

    def result(self, target: str, order: int, result: BenchResult) -> None: ...

    def error(self, line: str) -> None: ...


@dataclass
class DeviceSession:
    cfg: AndroidConfig
    entry: DeviceEntry
    target: str
    cells: list[Cell]  # what this run does on the phone (on --resume: only the missing or failed cells)
    sink: Sink
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    stop: threading.Event = field(default_factory=threading.Event)  # set: end at the next run (Ctrl-C, SIGTERM)

    def __post_init__(self) -> None:
        self._done = 0
        self._who = f"{self.target}: "

    def ident(self, cell: Cell) -> dict[str, Any]:
        f = cell.file
        runtime, fmt = ("executor_runner", "executorch") if cell.is_pte else ("benchmark_model", "tflite")
        return dict(target=self.target, runtime=runtime, format=fmt, precision=f.precision, path=f.name,
                    threads=cell.threads, delegate=cell.delegate, warmup=self.cfg.warmup, arch=f.arch,
                    input_size=f.input_size, macs=f.macs, variant=f.variant)  # fmt: skip

    def run(self) -> None:
        """The whole session; never raises for a failure of the phone (its remaining cells fail instead)."""
        if not self.cells:
            return
        adb = Adb(self.cfg.adb, serial=self.entry.serial, server=self.entry.server)
        pushed: list[str] = []
        lost = False
        try:
            self._session(adb, pushed)
        except BenchError as e:
            lost = isinstance(e, adbm.DeviceDisconnected | adbm.DeviceOffline | adbm.DeviceUnauthorized)
            self._fail_rest(first_line(str(e)))
        finally:
            if pushed and not lost and not self.cfg.keep_remote_files:
                try:
                    adb.shell("rm -f " + " ".join(shlex.quote(p) for p in pushed), what="clean-up")
                except adbm.AdbError as e:
                    log.warning("%sclean-up on the device skipped: %s", self._who, e)

    def _fail_rest(self, why: str) -> None:
        rest = self.cells[self._done :]
        for cell in rest:
            self.sink.result(self.target, cell.order, failed_result(f"not run: {why}", repeats=0, **self.ident(cell)))
        self.sink.error(f"{self.target}: {why}; {len(rest)} cell(s) not run")
        log.error("%s%s; %d cell(s) not run", self._who, why, len(rest))

    def _session(self, adb: Adb, pushed: list[str]) -> None:
        cfg = self.cfg
        info = device_info(adb)
        log.info("%s%s (adb server %s)", self._who, info.description, info.server)
        mask, cores = cores_mask(cfg.cores, info.cpu_max_freq_khz)
        described = info.to_dict()
        described.update(target=self.target, cores={"choice": cfg.cores, "mask": mask, "cores": cores},
                         capped_at_start=capped_at_start(info.cpu, info.cpu_max_freq_khz))  # fmt: skip
        self.sink.device(self.target, described)
        for tool in cfg.tools.values():
            local_abi = elf_abi(tool)
            if cfg.check_abi and local_abi and info.abilist and local_abi not in info.abilist:
                raise BinaryNotRunnable(
                    f"{tool.name} is built for {local_abi} but device {info.serial} runs {', '.join(info.abilist)}: "
                    f"use the android_{'aarch64' if 'arm64-v8a' in info.abilist else 'arm'} build"
                )
        if max(c.threads for c in self.cells) > len(cores):
            log.warning("%s%d threads on %d pinned cores: threads will share cores", self._who,
                        max(c.threads for c in self.cells), len(cores))  # fmt: skip
        paths, pte_paths = remote_paths(cfg.remote_dir), pte_remote_paths(cfg.remote_dir)
        runnable = [c for c in self.cells if not soc_mismatch(getattr(c.file, "npu", None), info)]
        if any(not c.is_pte for c in runnable):
            self._push_tool(adb, Path(cfg.benchmark_model), paths.binary, pushed)  # type: ignore[arg-type]
            if any(c.delegate == "npu" for c in runnable):
                self._push_npu_libs(adb, pushed)
        if any(c.is_pte for c in runnable):
            self._push_tool(adb, Path(cfg.pte_runner), pte_paths.binary, pushed)  # type: ignore[arg-type]
        remote: dict[str, str] = {}
        for c in runnable:
            if c.file.name not in remote:
                remote[c.file.name] = f"{cfg.remote_dir}/{Path(c.file.name).name}"
                self._push(adb, c.file.path, remote[c.file.name], pushed)
        pushed += [paths.output, paths.pid, pte_paths.output]
        cooling = Cooling(cfg.cool_below_c, cfg.cool_timeout_s, cfg.cool_poll_s)
        first = True
        with tempfile.TemporaryDirectory(prefix="shufflenet-bench-") as tmp:
            local_out = Path(tmp) / "out.txt"
            by_file: dict[str, list[Cell]] = {}
            for c in self.cells:
                by_file.setdefault(c.file.name, []).append(c)
            for cells in by_file.values():
                other = soc_mismatch(getattr(cells[0].file, "npu", None), info)
                if other:
                    for cell in cells:
                        self._emit(cell, failed_result(other, status="skipped", repeats=0, **self.ident(cell)))
                        log.info("%s%s: %s", self._who, cell.what, other)
                    continue
                cool = wait_until_cool(adb, cooling, self.sleep, self.clock, self._who)
                for cell in cells:
                    if isinstance(cell.file, PteFile):
                        details = self._details(cell, mask, cores, cool, info)
                        result = pte_cell(cfg, adb, cell.file, cell.threads, mask, pte_paths, local_out,
                                          self.ident(cell), details, self.sleep, first, self.stop)  # fmt: skip
                    else:
                        runs, failure = self._repeats(adb, cell, mask, remote, paths, local_out, info, first)
                        result = self._result(cell, runs, failure, mask, cores, cool, info)
                    first = False
                    self._emit(cell, result)

    def _push_tool(self, adb: Adb, local: Path, remote: str, pushed: list[str]) -> None:
        self._push(adb, local, remote, pushed)
        r = adb.shell(f"chmod 755 {shlex.quote(remote)}", what=f"chmod of {Path(remote).name}")
        if r.returncode != 0:
            raise BinaryNotRunnable(f"chmod of {remote} failed: {first_line(r.stderr + r.stdout)}")

    def _push(self, adb: Adb, local: Path, remote: str, pushed: list[str]) -> None:
        log.info("%spush %s", self._who, Path(local).name)
        pushed.append(remote)
        adb.push(local, remote)

    def _push_npu_libs(self, adb: Adb, pushed: list[str]) -> None:
        """Every file of ``npu_libs`` into the phone's NPU library folder."""
        cfg = self.cfg
        assert cfg.npu_libs is not None
        r = adb.shell(f"mkdir -p {shlex.quote(cfg.remote_npu_dir)}", what="mkdir of the NPU library folder")
        if r.returncode != 0:
            why = first_line(r.stderr + r.stdout)
            raise adbm.PushFailed(f"cannot create {cfg.remote_npu_dir} on the device: {why}")
        for lib in sorted(p for p in Path(cfg.npu_libs).iterdir() if p.is_file()):
            self._push(adb, lib, f"{cfg.remote_npu_dir}/{lib.name}", pushed)

    def _repeats(
        self, adb: Adb, cell: Cell, mask: str, remote: dict[str, str], paths: RemotePaths, local_out: Path,
        info: DeviceInfo, first: bool,
    ) -> tuple[list[Run], tuple[str, str] | None]:  # fmt: skip
        cfg = self.cfg
        runs: list[Run] = []
        for k in range(cfg.repeats):
            if self.stop.is_set():
                raise BenchError("interrupted")
            if not (first and k == 0) and cfg.cooldown_s > 0:
                self.sleep(cfg.cooldown_s)
            cmd = benchmark_command(cfg, mask, remote[cell.file.name], cell.threads, cell.delegate, paths)
            run = one_run(adb, cmd, paths, local_out, info, Path(cfg.benchmark_model), cell.what, cfg.run_timeout_s)
            runs.append(run)
            since_start = warming(info.thermal_c, run.after.zones_c)
            if run.warming_c is not None and run.warming_c > cfg.max_warming_c:
                log.warning("%s%s repeat %d: device warmed by %.1f °C during the run (throttling likely)",
                            self._who, cell.what, k + 1, run.warming_c)  # fmt: skip
            elif since_start is not None and since_start > cfg.max_warming_c:
                log.warning(
                    "%s%s repeat %d: device %.1f °C warmer than at the start (throttling likely): lengthen "
                    "--cooldown or use --cool-below", self._who, cell.what, k + 1, since_start,
                )  # fmt: skip
            failure = judge_run(run, cell.delegate)
            if failure is not None:
                return runs, failure
        return runs, None

    def _details(self, cell: Cell, mask: str, cores: list[int], cool: CoolWait, info: DeviceInfo) -> dict[str, Any]:
        cfg = self.cfg
        return {"cores_mask": mask, "cores": cores, "file_sha256": cell.file.sha256, "server": info.server,
                "command_flags": {"warmup_runs": cfg.warmup, "num_runs": cfg.runs, "op_profiling": cfg.op_profiling},
                "cooling": cool.record()}  # fmt: skip

    def _result(
        self, cell: Cell, runs: list[Run], failure: tuple[str, str] | None, mask: str, cores: list[int],
        cool: CoolWait, info: DeviceInfo,
    ) -> BenchResult:  # fmt: skip
        cfg = self.cfg
        throttled = sorted({c for r in runs for c in throttled_cores(info.cpu, r.after.cpu)})
        details = {**self._details(cell, mask, cores, cool, info), "throttled_cores": throttled}
        result = cell_result(runs, failure, self.ident(cell), details, cfg.max_warming_c, info.thermal_c)
        if result.status == "ok" and throttled:
            capped = {c: runs[-1].after.cpu.max_khz.get(c) for c in throttled}
            result.noisy = True
            result.noise_reasons.append(f"throttling: cores {throttled} capped below their start limit ({capped} kHz)")
            log.warning("%s%s: throttling, cores %s capped to %s kHz", self._who, cell.what, throttled, capped)
        if result.status == "ok" and cool.stayed_hot:
            result.noisy = True
            result.noise_reasons.append(f"stayed hot: {cool.reading.hottest_c:.1f} °C > {cool.threshold_c:g} °C")
        return result

    def _emit(self, cell: Cell, result: BenchResult) -> None:
        self._done += 1
        self.sink.result(self.target, cell.order, result)
        if result.status == "ok":
            log.info("%s%s: %.2f ms over %d runs", self._who, cell.what, result.latency_ms or 0.0, result.runs)
        elif result.status != "skipped":
            self.sink.error(f"{self.target}: {cell.what}: {result.error}")
            log.error("%s%s: %s", self._who, cell.what, result.error)
