"""Fair numbers on a phone: how hot it is, waiting until it has cooled, and whether it throttles.

A reading takes the thermal zones, the battery (``dumpsys battery``) and the CPU frequency state. The SoC zones are
those whose type names a CPU or SoC sensor (``cpu-1-0-usr``, ``cpuss-0``, ``tsens_tz_sensor4``, ``mtktscpu``,
``soc_thermal``, ``BIG``/``LITTLE`` ...; every zone but the battery's on a phone that names none); readings outside
-30..150 °C are sensors that are absent or broken and are left out. A phone throttles when a core's
``scaling_max_freq`` falls below what it was when the session started (a limit already there at the start, such
as a boost frequency the governor keeps out of reach, is recorded, not taken for throttling).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shufflenet.benchmarks.phone_latency.adb import Adb
from shufflenet.benchmarks.phone_latency.device import CPU_FILES, THERMAL_GLOBS, CpuState, parse_thermal, read_battery

log = logging.getLogger(__name__)

SOC_ZONE = re.compile(r"cpu|tsens|soc|apc|cluster|core|^big|^little|^mid", re.IGNORECASE)
BATTERY_ZONE = re.compile(r"batt", re.IGNORECASE)


def plausible(temps: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in temps.items() if -30.0 <= v <= 150.0}


def warming(before: dict[str, float], after: dict[str, float]) -> float | None:
    """Largest rise (°C) of any thermal zone present in both readings."""
    a, b = plausible(before), plausible(after)
    rises = [b[k] - a[k] for k in a.keys() & b.keys()]
    return max(rises) if rises else None


@dataclass
class Reading:
    """One look at a phone's temperatures and CPU frequency state."""

    zones_c: dict[str, float]
    battery: dict[str, float]
    cpu: CpuState = field(default_factory=CpuState)

    @property
    def soc_c(self) -> float | None:
        zones = plausible(self.zones_c)
        soc = [v for k, v in zones.items() if SOC_ZONE.search(k) and not BATTERY_ZONE.search(k)]
        soc = soc or [v for k, v in zones.items() if not BATTERY_ZONE.search(k)]
        return max(soc) if soc else None

    @property
    def battery_c(self) -> float | None:
        temps = [v for k, v in plausible(self.zones_c).items() if BATTERY_ZONE.search(k)]
        if self.battery.get("temperature_c") is not None:
            temps.append(self.battery["temperature_c"])
        return max(temps) if temps else None

    @property
    def hottest_c(self) -> float | None:
        temps = [t for t in (self.soc_c, self.battery_c) if t is not None]
        return max(temps) if temps else None

    def summary(self) -> dict[str, Any]:
        return {"soc_c": self.soc_c, "battery_c": self.battery_c, "governor": sorted(set(self.cpu.governor.values())),
                "max_khz": {str(k): v for k, v in self.cpu.max_khz.items()}}  # fmt: skip


def read_state(adb: Adb) -> Reading:
    """Thermal zones and cpufreq in one ``grep``, then the battery."""
    text = adb.shell(f"grep -H . {THERMAL_GLOBS} {CPU_FILES}", what="reading the thermal zones").stdout
    return Reading(parse_thermal(text), read_battery(adb), CpuState.parse(text))


def throttled_cores(start: CpuState, now: CpuState) -> list[int]:
    """Cores whose ``scaling_max_freq`` is below its value at the start of the session."""
    return sorted(c for c, f in now.max_khz.items() if c in start.max_khz and f < start.max_khz[c])


def capped_at_start(cpu: CpuState, cpuinfo_max_khz: dict[int, int]) -> list[int]:
    """Cores whose ``scaling_max_freq`` is below ``cpuinfo_max_freq`` already (boost frequencies, an old cap)."""
    return sorted(c for c, f in cpu.max_khz.items() if f < cpuinfo_max_khz.get(c, f))


@dataclass
class Cooling:
    """Before each file, wait until the SoC zones and the battery are at most ``below_c`` (at most ``timeout_s``,
    looking every ``poll_s``); ``below_c`` None waits for nothing."""

    below_c: float | None = None
    timeout_s: float = 600.0
    poll_s: float = 5.0


@dataclass
class CoolWait:
    waited_s: float
    reading: Reading
    threshold_c: float | None
    stayed_hot: bool

    def record(self) -> dict[str, Any]:
        return {"waited_s": round(self.waited_s, 3), "threshold_c": self.threshold_c, "stayed_hot": self.stayed_hot,
                **self.reading.summary()}  # fmt: skip


def wait_until_cool(
    adb: Adb,
    cooling: Cooling,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    who: str = "",
) -> CoolWait:
    start = clock()
    reading = read_state(adb)
    if cooling.below_c is None:
        return CoolWait(0.0, reading, None, False)
    announced = False
    while True:
        hottest = reading.hottest_c
        waited = clock() - start
        if hottest is None or hottest <= cooling.below_c:
            return CoolWait(waited, reading, cooling.below_c, False)
        if waited >= cooling.timeout_s:
            log.warning("%sstayed hot: %.1f °C after %.0f s of cooling (limit %g °C); measuring anyway",
                        who, hottest, waited, cooling.below_c)  # fmt: skip
            return CoolWait(waited, reading, cooling.below_c, True)
        if not announced:
            log.info("%scooling: %.1f °C, waiting for %g °C", who, hottest, cooling.below_c)
            announced = True
        sleep(min(cooling.poll_s, max(cooling.timeout_s - waited, 0.0)))
        reading = read_state(adb)
