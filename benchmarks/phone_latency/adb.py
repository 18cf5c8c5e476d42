"""A thin, typed layer over the ``adb`` command line, bound to one adb server and, once chosen, one device.

Every failure becomes one ``AdbError`` subclass with a one-line message. An adb server on another host is reached
with ``adb -H HOST -P PORT`` (``AdbServer``); adb itself starts no server on a remote address, and this layer never
opens a port. The harness issues a small, fixed vocabulary of device commands (``getprop``, ``grep -H . <files>``,
``dumpsys battery``, ``cat``, ``chmod``, ``rm -f``, ``mkdir -p``, ``kill -9 PID`` and one backgrounded
``benchmark_model`` run), so the tests' device double can answer them
(``tests/benchmarks/phone_latency/device_double``).

adb 29.x, which Debian ships, exits 0 with no output when a phone vanishes in the middle of ``adb shell`` (no exit
packet arrives): callers judge a command by its expected output, not by its exit status.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
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


class CommandTimedOut(CommandFailed):
    pass


class ServerUnreachable(AdbError):
    pass


@dataclass(frozen=True)
class AdbServer:
    """An adb server: ``host`` None is the local default (``$ANDROID_ADB_SERVER_PORT`` or 5037)."""

    host: str | None = None
    port: int | None = None

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}" if self.host else "local"

    def args(self) -> list[str]:
        return ["-H", self.host, "-P", str(self.port)] if self.host else []


def parse_servers(text: str) -> list[AdbServer]:
    """``HOST:PORT[,HOST:PORT...]`` (``--adb-server``); a ValueError names a malformed entry."""
    servers = []
    for item in (t.strip() for t in text.split(",")):
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--adb-server {item!r}: give HOST:PORT, e.g. lab-host-1:5037 or 127.0.0.1:5038")
        servers.append(AdbServer(host, int(port)))
    if len(set(servers)) != len(servers):
        raise ValueError(f"--adb-server {text}: a server is named twice")
    return servers


def probe_server(server: AdbServer, timeout_s: float = 5.0) -> None:
    """Raise ServerUnreachable unless something accepts connections at a remote server's address (checked
    before adb is asked, so an unreachable lab host is one clear line)."""
    if server.host is None:
        return
    try:
        with socket.create_connection((server.host, server.port), timeout=timeout_s):
            return
    except OSError as e:
        raise ServerUnreachable(
            f"adb server {server.label} not reachable ({e.strerror or e}): start it there with "
            "'adb -a -P PORT server nodaemon' on a private network, or open the tunnel (ssh -L)"
        ) from None


@dataclass
class DeviceEntry:
    serial: str
    state: str  # device | unauthorized | offline | recovery | no permissions ...
    server: AdbServer = field(default_factory=AdbServer)


@dataclass
class ShellResult:
    returncode: int
    stdout: str
    stderr: str


_ADB_LINK_ERRORS = re.compile(
    r"(error: (closed|device '.*' not found|no devices/emulators found|device offline|protocol fault)|"
    r"device offline|error: device still (authorizing|connecting)|connection reset|broken pipe)",
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
    """adb bound to one server and, once ``serial`` is set, one device."""

    executable: str | os.PathLike | None = None
    serial: str | None = None
    timeout_s: float = 120.0
    env: dict[str, str] | None = None
    server: AdbServer = field(default_factory=AdbServer)
    path: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.path = find_adb(self.executable)

    # --- raw invocation -------------------------------------------------------------------------------------
    def _run(self, args: list[str], timeout: float | None = None, device: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.path, *self.server.args()]
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
                stdin=subprocess.DEVNULL,  # adb shell would forward ours to the device
                check=False,
            )
        except FileNotFoundError:
            raise AdbNotFound(f"adb not found or not executable: {self.path}") from None
        except PermissionError:
            raise AdbNotFound(f"adb not found or not executable: {self.path}") from None
        except subprocess.TimeoutExpired:
            raise CommandTimedOut(
                f"adb {' '.join(args[:2])} timed out after {timeout or self.timeout_s:.0f} s"
            ) from None

    # --- devices --------------------------------------------------------------------------------------------
    def devices(self) -> list[DeviceEntry]:
        p = self._run(["devices"], timeout=60, device=False)
        if p.returncode != 0:
            raise AdbError(f"adb devices failed: {first_line(p.stderr + p.stdout) or f'exit {p.returncode}'}")
        return [DeviceEntry(e.serial, e.state, self.server) for e in parse_devices(p.stdout)]

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


def state_error(entry: DeviceEntry) -> AdbError | None:
    """Why a listed device cannot be used, with the fix, or None when its state is ``device``."""
    s, where = entry.state, "" if entry.server.host is None else f" (adb server {entry.server.label})"
    if s == "device":
        return None
    if s == "unauthorized":
        return DeviceUnauthorized(
            f"device {entry.serial}{where} is unauthorized: accept the USB debugging prompt on it"
        )
    if s == "offline":
        return DeviceOffline(
            f"device {entry.serial}{where} is offline: reconnect it (or 'adb disconnect' and connect it again)"
        )
    if s.startswith("no permissions"):
        return DeviceUnauthorized(f"device {entry.serial}{where}: no permissions (udev rules / plugdev group)")
    return DeviceOffline(f"device {entry.serial}{where} is in state '{s}', not 'device'")
