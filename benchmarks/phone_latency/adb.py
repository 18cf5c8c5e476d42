"""A thin, typed layer over the ``adb`` command line.

Every failure becomes one ``AdbError`` subclass with a one-line message. The layer issues a small, fixed
vocabulary of device commands (``getprop``, ``grep -H . <files>``, ``dumpsys battery``, ``chmod``, ``rm -f``,
``taskset MASK prog ... > file 2>&1``), so a test double of ``adb`` can answer them (the tests' one:
``tests/benchmarks/phone_latency/adb_double/adb``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


class BenchError(RuntimeError):
    """A failure with a one-line message, shown as-is by the CLI."""


class AdbError(BenchError):
    pass


class AdbNotFound(AdbError):
    pass


class NoDevice(AdbError):
    pass


class MultipleDevices(AdbError):
    pass


class DeviceUnauthorized(AdbError):
    pass


class DeviceOffline(AdbError):
    pass


class DeviceDisconnected(AdbError):
    pass


class PushFailed(AdbError):
    pass


class PullFailed(AdbError):
    pass


class CommandFailed(AdbError):
    pass


@dataclass
class DeviceEntry:
    serial: str
    state: str  # device | unauthorized | offline | recovery | no permissions ...


@dataclass
class ShellResult:
    returncode: int
    stdout: str
    stderr: str


_ADB_LINK_ERRORS = re.compile(
    r"(error: (closed|device '.*' not found|no devices/emulators found|device offline|protocol fault)|"
    r"adb: device offline|error: device still (authorizing|connecting)|connection reset|broken pipe)",
    re.IGNORECASE,
)


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def find_adb(executable: str | os.PathLike | None = None) -> str:
    """The adb to use: the given path, else ``$ADB``, else ``adb`` on PATH."""
    cand = str(executable) if executable else os.environ.get("ADB") or "adb"
    path = shutil.which(cand)
    if path is None:
        if executable or os.environ.get("ADB"):
            raise AdbNotFound(f"adb not found or not executable: {cand}")
        raise AdbNotFound("adb not found on PATH: install Android platform-tools (Debian: apt-get install adb)")
    return path


def parse_devices(text: str) -> list[DeviceEntry]:
    """Parse ``adb devices`` output (daemon start-up chatter ignored)."""
    entries = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or line.startswith("*") or line.startswith("List of devices"):
            continue
        if "\t" in line:
            serial, state = line.split("\t", 1)
        else:
            parts = line.split(None, 1)
            if len(parts) != 2:
                continue
            serial, state = parts
        entries.append(DeviceEntry(serial.strip(), state.strip()))
    return entries


@dataclass
class Adb:
    """adb bound to one device once ``select`` has run."""

    executable: str | os.PathLike | None = None
    serial: str | None = None
    timeout_s: float = 120.0
    env: dict[str, str] | None = None
    path: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.path = find_adb(self.executable)

    # --- raw invocation -------------------------------------------------------------------------------------
    def _run(self, args: list[str], timeout: float | None = None, device: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.path]
        if device and self.serial:
            cmd += ["-s", self.serial]
        cmd += args
        log.debug("adb: %s", " ".join(cmd))
        try:
            return subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout or self.timeout_s,
                env={**os.environ, **self.env} if self.env else None,
                check=False,
            )
        except FileNotFoundError:
            raise AdbNotFound(f"adb not found or not executable: {self.path}") from None
        except PermissionError:
            raise AdbNotFound(f"adb not found or not executable: {self.path}") from None
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"adb {' '.join(args[:2])} timed out after {timeout or self.timeout_s:.0f} s") from None

    # --- devices --------------------------------------------------------------------------------------------
    def devices(self) -> list[DeviceEntry]:
        p = self._run(["devices"], timeout=60, device=False)
        if p.returncode != 0:
            raise AdbError(f"adb devices failed: {first_line(p.stderr + p.stdout) or f'exit {p.returncode}'}")
        return parse_devices(p.stdout)

    def select(self, serial: str | None = None) -> DeviceEntry:
        """Bind to ``serial`` (or the only attached device) and check it is usable."""
        entries = self.devices()
        if serial:
            match = [e for e in entries if e.serial == serial]
            if not match:
                attached = ", ".join(e.serial for e in entries) or "none"
                raise NoDevice(f"device {serial} not attached (attached: {attached})")
            entry = match[0]
        else:
            if not entries:
                raise NoDevice("no Android device attached (adb devices lists none): connect one with USB debugging on")
            if len(entries) > 1:
                listed = ", ".join(f"{e.serial} ({e.state})" for e in entries)
                raise MultipleDevices(f"several devices attached: {listed}; choose one with --serial")
            entry = entries[0]
        _check_state(entry)
        self.serial = entry.serial
        return entry

    def get_state(self) -> str | None:
        p = self._run(["get-state"], timeout=30)
        return p.stdout.strip() if p.returncode == 0 else None

    def _link_failure(self, p: subprocess.CompletedProcess, what: str) -> AdbError | None:
        """If adb itself (not the device command) failed, the error to raise."""
        text = (p.stderr or "") + "\n" + (p.stdout or "")
        if "unauthorized" in text and "error:" in text:
            return DeviceUnauthorized(f"device {self.serial} is unauthorized: accept the USB debugging prompt on it")
        # Any failure may be the link going away: ask adb whether the device is still there.
        state = self.get_state()
        if state != "device":
            reason = first_line(text) if _ADB_LINK_ERRORS.search(text) else f"state now {state or 'absent'}"
            return DeviceDisconnected(f"device {self.serial} disconnected during {what} ({reason})")
        return None

    # --- commands -------------------------------------------------------------------------------------------
    def shell(self, command: str, timeout: float | None = None, what: str | None = None) -> ShellResult:
        """Run one shell command line on the device; the device command's exit status is returned."""
        p = self._run(["shell", command], timeout=timeout)
        if p.returncode != 0:
            err = self._link_failure(p, what or f"'{command.split()[0]}'")
            if err is not None:
                raise err
        return ShellResult(p.returncode, p.stdout, p.stderr)

    def push(self, local: Path, remote: str) -> None:
        p = self._run(["push", str(local), remote], timeout=max(self.timeout_s, 600))
        if p.returncode == 0:
            return
        text = (p.stderr or "") + "\n" + (p.stdout or "")
        if re.search(r"No space left on device", text, re.IGNORECASE):
            raise PushFailed(f"push of {Path(local).name} to {remote} failed: no space left on the device")
        err = self._link_failure(p, f"push of {Path(local).name}")
        if err is not None:
            raise err
        raise PushFailed(f"push of {Path(local).name} to {remote} failed: {first_line(text) or f'exit {p.returncode}'}")

    def pull(self, remote: str, local: Path) -> None:
        p = self._run(["pull", remote, str(local)], timeout=max(self.timeout_s, 600))
        if p.returncode == 0:
            return
        err = self._link_failure(p, f"pull of {remote}")
        if err is not None:
            raise err
        text = (p.stderr or "") + "\n" + (p.stdout or "")
        raise PullFailed(f"pull of {remote} failed: {first_line(text) or f'exit {p.returncode}'}")


def _check_state(entry: DeviceEntry) -> None:
    s = entry.state
    if s == "device":
        return
    if s == "unauthorized":
        raise DeviceUnauthorized(f"device {entry.serial} is unauthorized: accept the USB debugging prompt on it")
    if s == "offline":
        raise DeviceOffline(f"device {entry.serial} is offline: reconnect it (or run adb kill-server)")
    if s.startswith("no permissions"):
        raise DeviceUnauthorized(f"device {entry.serial}: no permissions (udev rules / plugdev group)")
    raise DeviceOffline(f"device {entry.serial} is in state '{s}', not 'device'")


# --- device facts -------------------------------------------------------------------------------------------
_PROP = re.compile(r"^\[(?P<k>[^\]]+)\]:\s*\[(?P<v>.*)\]\s*$")
_GREP_H = re.compile(r"^(?P<path>/[^:]+):(?P<val>.*)$")


def parse_getprop(text: str) -> dict[str, str]:
    props = {}
    for line in text.splitlines():
        m = _PROP.match(line.strip())
        if m:
            props[m.group("k")] = m.group("v")
    return props


def parse_grep_h(text: str) -> dict[str, str]:
    """Parse ``grep -H . files...`` output into {path: first line}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _GREP_H.match(line.strip())
        if m and m.group("path") not in out:
            out[m.group("path")] = m.group("val").strip()
    return out


def parse_cpu_max_freqs(text: str) -> dict[int, int]:
    """{cpu index: cpuinfo_max_freq in kHz} from ``grep -H . /sys/devices/system/cpu/cpu*/cpufreq/...``."""
    freqs = {}
    for path, val in parse_grep_h(text).items():
        m = re.search(r"/cpu(\d+)/cpufreq/cpuinfo_max_freq$", path)
        if m and val.strip().isdigit():
            freqs[int(m.group(1))] = int(val)
    return dict(sorted(freqs.items()))


def _to_celsius(raw: str) -> float | None:
    try:
        v = float(raw)
    except ValueError:
        return None
    # Thermal zones report millidegrees on nearly every device; a few report whole degrees.
    return v / 1000.0 if abs(v) >= 1000 else v


def parse_thermal(text: str) -> dict[str, float]:
    """{zone type (or zone name): °C} from ``grep -H . .../thermal_zone*/type .../thermal_zone*/temp``."""
    types: dict[str, str] = {}
    temps: dict[str, float] = {}
    for path, val in parse_grep_h(text).items():
        m = re.search(r"/(thermal_zone\d+)/(type|temp)$", path)
        if not m:
            continue
        zone, what = m.groups()
        if what == "type":
            types[zone] = val
        else:
            c = _to_celsius(val)
            if c is not None:
                temps[zone] = c
    out = {}
    for zone in sorted(temps, key=lambda z: int(z.removeprefix("thermal_zone"))):
        name = types.get(zone, zone)
        if name in out:
            name = f"{name}({zone})"
        out[name] = temps[zone]
    return out


def parse_battery(text: str) -> dict[str, float]:
    """Level (%) and temperature (°C) from ``dumpsys battery``."""
    out: dict[str, float] = {}
    m = re.search(r"^\s*level:\s*(\d+)", text, re.MULTILINE)
    if m:
        out["level"] = float(m.group(1))
    m = re.search(r"^\s*temperature:\s*(-?\d+)", text, re.MULTILINE)
    if m:
        out["temperature_c"] = int(m.group(1)) / 10.0
    return out


def parse_cpu_features(text: str) -> list[str]:
    """The CPU features every core lists in ``/proc/cpuinfo`` (its ``Features`` lines, one per core on arm64; the
    kernel reports the hwcaps the whole system has), in the order of the first line; [] when there is none."""
    lines = [ln.partition(":")[2].split() for ln in text.splitlines() if ln.split(":")[0].strip() == "Features"]
    if not lines:
        return []
    common = set.intersection(*(set(ln) for ln in lines))
    return [f for f in lines[0] if f in common]


CPU_FREQ_GLOB = "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq"
THERMAL_GLOBS = "/sys/class/thermal/thermal_zone*/type /sys/class/thermal/thermal_zone*/temp"


def read_props(adb: Adb) -> dict[str, str]:
    r = adb.shell("getprop", what="getprop")
    return parse_getprop(r.stdout)


def read_cpu_max_freqs(adb: Adb) -> dict[int, int]:
    return parse_cpu_max_freqs(adb.shell(f"grep -H . {CPU_FREQ_GLOB}", what="reading CPU frequencies").stdout)


def read_cpu_features(adb: Adb) -> list[str]:
    """The device CPU's features (hwcaps) from ``/proc/cpuinfo``; [] when it cannot be read."""
    r = adb.shell("cat /proc/cpuinfo", what="reading the CPU features")
    return parse_cpu_features(r.stdout) if r.returncode == 0 else []


def read_thermal(adb: Adb) -> dict[str, float]:
    return parse_thermal(adb.shell(f"grep -H . {THERMAL_GLOBS}", what="reading thermal zones").stdout)


def read_battery(adb: Adb) -> dict[str, float]:
    return parse_battery(adb.shell("dumpsys battery", what="reading the battery").stdout)


# --- CPU masks ----------------------------------------------------------------------------------------------
def cores_mask(choice: str, max_freqs: dict[int, int]) -> tuple[str, list[int]]:
    """The ``taskset`` hex mask and core list for ``big``, ``little``, ``all`` or an explicit hex mask.

    ``big``: every core faster than the slowest cluster (all cores on a device whose cores are all alike);
    ``little``: the cores of the slowest cluster.
    """
    choice = choice.strip().lower()
    if choice in ("big", "little", "all"):
        if not max_freqs:
            raise BenchError(f"cannot choose '{choice}' cores: the device shows no cpuinfo_max_freq; give a hex mask")
        lowest = min(max_freqs.values())
        if choice == "all":
            cores = sorted(max_freqs)
        elif choice == "little":
            cores = sorted(c for c, f in max_freqs.items() if f == lowest)
        else:
            cores = sorted(c for c, f in max_freqs.items() if f > lowest) or sorted(max_freqs)
    else:
        text = choice.removeprefix("0x")
        if not re.fullmatch(r"[0-9a-f]+", text) or int(text, 16) == 0:
            raise BenchError(f"--cores must be big, little, all or a non-zero hex mask, got {choice!r}")
        value = int(text, 16)
        cores = [i for i in range(value.bit_length()) if value >> i & 1]
        if max_freqs and any(c not in max_freqs for c in cores):
            missing = [c for c in cores if c not in max_freqs]
            raise BenchError(f"--cores {choice}: the device has no core(s) {missing} (cores: {sorted(max_freqs)})")
    mask = sum(1 << c for c in cores)
    return f"{mask:x}", cores


# --- ELF / ABI ----------------------------------------------------------------------------------------------
_ELF_MACHINES = {183: "arm64-v8a", 40: "armeabi-v7a", 62: "x86_64", 3: "x86", 243: "riscv64"}


def elf_abi(path: Path) -> str | None:
    """The Android ABI an ELF executable is built for, or None when the file is not an ELF we know."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    byteorder = "little" if head[5] == 1 else "big"
    machine = int.from_bytes(head[18:20], byteorder)
    return _ELF_MACHINES.get(machine, f"elf-machine-{machine}")
