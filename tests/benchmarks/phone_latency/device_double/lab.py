"""A test lab: private real adb servers on loopback ports (each one a lab host) and test-double phones attached to
them with ``adb connect 127.0.0.1:PORT``.

Each server runs ``adb -P PORT nodaemon server`` with ADB_EMU=0 ADB_MDNS=0 ADB_USB=0 (no emulator scan of
5555-5585, no mDNS, no real USB phone taken from another server) and a HOME and TMPDIR of its own (its adb keys
and log). Its process id is known, so it is stopped by id afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .phone import PROFILES, Behaviour, Phone

ADB = shutil.which("adb")


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 5555 <= port <= 5585:
            return port


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")


class AdbServer:
    """One private adb server (a lab host) on a loopback port."""

    def __init__(self, home: Path) -> None:
        assert ADB is not None, "adb is not installed"
        self.home = home
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = {**os.environ, "HOME": str(home), "TMPDIR": str(home / "tmp"), "ADB_EMU": "0", "ADB_MDNS": "0",
                    "ADB_USB": "0", "ANDROID_ADB_SERVER_PORT": str(self.port)}  # fmt: skip
        self.log = open(home / "server.log", "wb")  # closed in stop()
        self.proc = subprocess.Popen([ADB, "-P", str(self.port), "nodaemon", "server"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
        wait_for_port(self.port)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def adb(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([ADB, "-H", "127.0.0.1", "-P", str(self.port), *args], env=self.env, text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)  # fmt: skip

    def states(self) -> dict[str, str]:
        out = self.adb("devices").stdout
        return dict(ln.split("\t", 1) for ln in out.splitlines() if "\t" in ln)

    def connect(self, phone: Phone, want: str = "device") -> None:
        """``adb connect`` and wait until the server lists the phone in state ``want``."""
        self.adb("connect", phone.serial)
        self.wait_for(phone.serial, want)

    def wait_for(self, serial: str, want: str, timeout_s: float = 30.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.states().get(serial) == want:
                return
            time.sleep(0.1)
        raise TimeoutError(f"{serial} not '{want}' on {self.address}: {self.states()}")

    def disconnect(self, serial: str) -> None:
        self.adb("disconnect", serial)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


class Lab:
    """Phones on servers; ``close`` unplugs and forgets every phone (servers stay for the next test)."""

    def __init__(self, root: Path, servers: list[AdbServer]) -> None:
        self.root = root
        self.servers = servers
        self.phones: list[tuple[Phone, AdbServer]] = []

    def phone(self, profile: str = "xiaomi_12s_pro", server: int = 0, state: str = "device", **behaviour) -> Phone:
        """A phone of ``PROFILES[profile]`` attached to ``servers[server]``, listed in ``state``."""
        folder = self.root / f"phone{len(self.phones)}"
        phone = Phone(folder, PROFILES[profile], Behaviour(**behaviour))
        srv = self.servers[server]
        self.phones.append((phone, srv))
        srv.connect(phone, want=state)
        return phone

    def close(self) -> None:
        for phone, srv in self.phones:
            phone.stop()
            srv.disconnect(phone.serial)
        self.phones.clear()
