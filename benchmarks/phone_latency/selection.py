"""Which phones a run uses: the devices of one or more adb servers, chosen by ``--serial``.

- no ``--serial``: the only device attached (several: an error asking for ``--serial``);
- ``--serial all``: every device in state ``device``;
- ``--serial A,B,...``: those devices, on whichever server lists them.

A device that is listed but unusable (unauthorized, offline) or not attached, and a remote server that cannot be
reached, is skipped with a line saying how to fix it, and the run goes on with the others; when nothing usable is
left, the run stops with that line. The same serial on two servers is two phones, named ``HOST:PORT/SERIAL``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from shufflenet.benchmarks.phone_latency.adb import (
    Adb,
    AdbError,
    AdbServer,
    DeviceEntry,
    MultipleDevices,
    NoDevice,
    probe_server,
    state_error,
)

log = logging.getLogger(__name__)


@dataclass
class Chosen:
    entry: DeviceEntry
    target: str  # the name its results carry


@dataclass
class Selection:
    chosen: list[Chosen] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: who and how to fix it


def _listed(entries: list[DeviceEntry]) -> str:
    return ", ".join(f"{e.serial} ({e.state})" for e in entries)


def attached(adb: str | None, servers: list[AdbServer]) -> tuple[list[DeviceEntry], list[str]]:
    """Every device every server lists, and a line for each server that could not be asked."""
    entries: list[DeviceEntry] = []
    unreachable: list[str] = []
    for server in servers:
        try:
            probe_server(server)
            entries += Adb(adb, server=server).devices()
        except AdbError as e:
            if len(servers) == 1:
                raise
            unreachable.append(str(e))
            log.error("%s", e)
    if not entries and unreachable:
        raise AdbError("no adb server could be reached: " + "; ".join(unreachable))
    return entries, unreachable


def select(entries: list[DeviceEntry], spec: str | None) -> Selection:
    sel = Selection()
    if spec is None:
        if not entries:
            raise NoDevice("no Android device attached (adb devices lists none): connect one with USB debugging on")
        if len(entries) > 1:
            raise MultipleDevices(
                f"several devices attached: {_listed(entries)}; choose one with --serial, or --serial all"
            )
        err = state_error(entries[0])
        if err is not None:
            raise err
        sel.chosen.append(Chosen(entries[0], entries[0].serial))
        return sel
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    if wanted == ["all"]:
        if not entries:
            raise NoDevice("no Android device attached (adb devices lists none): connect one with USB debugging on")
        picked = entries
    else:
        picked = []
        for serial in dict.fromkeys(wanted):
            found = [e for e in entries if e.serial == serial]
            if not found:
                names = ", ".join(e.serial for e in entries) or "none"
                sel.skipped.append(f"device {serial} not attached (attached: {names})")
            picked += found
    for e in picked:
        err = state_error(e)
        if err is None:
            sel.chosen.append(Chosen(e, e.serial))
        else:
            sel.skipped.append(str(err))
    if not sel.chosen:
        if len(sel.skipped) == 1 and wanted != ["all"]:
            err = next((state_error(e) for e in picked), None)
            raise err if err is not None else NoDevice(sel.skipped[0])
        raise NoDevice("no usable device: " + "; ".join(sel.skipped))
    twice = {c.entry.serial for c in sel.chosen if sum(o.entry.serial == c.entry.serial for o in sel.chosen) > 1}
    for c in sel.chosen:
        if c.entry.serial in twice:
            c.target = f"{c.entry.server.label}/{c.entry.serial}"
    return sel
