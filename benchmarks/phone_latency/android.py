"""Latency on Android phones with TensorFlow Lite's ``benchmark_model`` (and ExecuTorch's ``executor_runner`` for
the .pte files, ``pte_android``), driven over adb: one phone, or every phone of one or more adb servers at once.

``run_android`` picks the phones (``selection``), checks the files, and runs one session per phone
(``session``), several at once (``fleet``); every result lands in one report, saved after every cell. A session
records what the phone is (``device``), pushes ``benchmark_model`` and the ``.tflite`` files to
``/data/local/tmp``, and for every file x threads x delegate runs ``benchmark_model`` K times pinned with
``taskset`` to the chosen cores (``bm_run``), waiting ``cooldown`` seconds between runs and, with
``cool_below_c``, until the phone has cooled before each file (``thermal``). Each run's output is pulled, parsed
and kept verbatim beside the parsed figures, with the temperatures and the CPU frequency state before and after.

Files compiled for a Qualcomm NPU (manifest entries with an ``npu`` object) run only when the user supplies the
phone's NPU runtime libraries (``npu_libs``: LiteRT's dispatch library and Qualcomm's QNN libraries for the
device, see docs/npu.md), and only on phones of the SoC they were compiled for (``ro.soc.model``): they are pushed
to ``REMOTE_DIR/npu`` and the file runs with ``--use_npu=true --dispatch_library_dir=...`` under
``LD_LIBRARY_PATH`` / ``ADSP_LIBRARY_PATH`` pointing there, which needs LiteRT's ``benchmark_model`` (built with NPU
support). On a phone of another SoC such a file is "not for this SoC" (status ``skipped``), not failed.

What stops the run (exit 2 in the command line): no adb, no usable phone at all, several phones and no
``--serial``, bad options. Everything else fails only the cells it touches (see ``session``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from shufflenet.benchmarks.phone_latency.adb import AdbServer, BenchError, find_adb, parse_servers
from shufflenet.benchmarks.phone_latency.config import AndroidConfig
from shufflenet.benchmarks.phone_latency.device import elf_abi
from shufflenet.benchmarks.phone_latency.fleet import Previous, read_previous, run_fleet
from shufflenet.benchmarks.phone_latency.model_files import ModelFile, tflite_files
from shufflenet.benchmarks.phone_latency.pte_android import PteFile, pte_files
from shufflenet.benchmarks.phone_latency.selection import attached, select
from shufflenet.benchmarks.reports.results import BenchReport
from shufflenet.model.files import sha256_path

log = logging.getLogger(__name__)

__all__ = ["AndroidConfig", "run_android"]


def run_android(
    cfg: AndroidConfig,
    save: Callable[[BenchReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> BenchReport:
    """Time the files on the chosen phones; ``save`` is called with the report after every result. A phone's own
    failures land in the report (``errors``); only a failure before any phone is timed raises."""
    cfg.validate()
    report = BenchReport(kind="android", config=cfg.to_dict())

    def persist() -> None:
        if save is not None:
            save(report)

    files, ptes = _files(cfg)
    previous: Previous | None = read_previous(cfg) if cfg.resume else None
    servers = parse_servers(",".join(cfg.adb_servers)) if cfg.adb_servers else [AdbServer()]
    report.environment = {"adb": find_adb(cfg.adb), "adb_servers": [s.label for s in servers], "devices": {}}
    for name, tool in cfg.tools.items():
        report.environment[name] = {"path": str(tool), "sha256": sha256_path(tool), "abi": elf_abi(tool)}
    try:
        entries, unreachable = attached(cfg.adb, servers)
        selection = select(entries, cfg.serial)
        skipped = unreachable + selection.skipped
        report.environment["skipped"] = skipped
        report.errors += skipped
        for line in selection.skipped:
            log.error("%s: skipped", line)
        run_fleet(cfg, selection, files, report, persist, previous, sleep, clock, ptes)
    except BenchError as e:
        report.errors.append(str(e))
        persist()
        raise
    _describe_machine(report)
    persist()
    return report


def _files(cfg: AndroidConfig) -> tuple[list[ModelFile], list[PteFile]]:
    """The .tflite files (with --benchmark-model) and the .pte files (with --pte-runner) to time."""
    wanted = cfg.files or []
    tfl = [f for f in wanted if not f.endswith(".pte")]
    pte = [f for f in wanted if f.endswith(".pte")]
    files = tflite_files(cfg.artifacts, tfl or None, npu=cfg.npu_libs is not None) if cfg.benchmark_model and (
        tfl or not wanted) else []  # fmt: skip
    ptes = pte_files(Path(cfg.artifacts), pte or None) if cfg.pte_runner and (pte or not wanted) else []
    if not files and not ptes:
        tool = "--pte-runner" if pte else "--benchmark-model"
        raise ValueError(f"nothing to time: --files names only {'.pte' if pte else '.tflite'} files; pass {tool}")
    return files, ptes


def _describe_machine(report: BenchReport) -> None:
    """``machine`` (and, for one phone, ``device`` and ``cores``), as the tables and Table 8 read them."""
    env = report.environment
    devices = env.get("devices") or {}
    if len(devices) == 1:
        (info,) = devices.values()
        env.update(device=info, machine=info.get("description", ""), cores=info.get("cores"))
    elif devices:
        env["machine"] = f"{len(devices)} Android devices"
