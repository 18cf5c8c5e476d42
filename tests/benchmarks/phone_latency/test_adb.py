"""The adb layer: device listings, adb servers (``--adb-server``), and the real adb (Debian's package) with a
private server and no phone."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.phone_latency import adb as adbm
from shufflenet.benchmarks.phone_latency.adb import Adb, AdbNotFound, AdbServer, NoDevice, ServerUnreachable
from shufflenet.benchmarks.phone_latency.selection import attached, select


def test_parse_devices_ignores_daemon_chatter() -> None:
    text = (
        "* daemon not running; starting now at tcp:5037\n* daemon started successfully\n"
        "List of devices attached\n0123456789ABCDEF\tdevice\nemulator-5554\toffline\n"
        "R58M12345\tunauthorized\n\n"
    )
    entries = adbm.parse_devices(text)
    assert [(e.serial, e.state) for e in entries] == [
        ("0123456789ABCDEF", "device"), ("emulator-5554", "offline"), ("R58M12345", "unauthorized"),
    ]  # fmt: skip
    assert adbm.parse_devices("List of devices attached\n\n") == []


def test_parse_servers() -> None:
    assert adbm.parse_servers("lab-1:5037, 10.0.0.7:5038") == [AdbServer("lab-1", 5037), AdbServer("10.0.0.7", 5038)]
    assert adbm.parse_servers("[::1]:5037") == [AdbServer("::1", 5037)]
    assert AdbServer("lab-1", 5037).args() == ["-H", "lab-1", "-P", "5037"] and AdbServer().args() == []
    for bad in ("lab-1", "lab-1:", ":5037", "lab-1:port", "lab-1:70000"):
        with pytest.raises(ValueError, match="give HOST:PORT"):
            adbm.parse_servers(bad)
    with pytest.raises(ValueError, match="named twice"):
        adbm.parse_servers("a:1,a:1")


def test_cli_refuses_a_malformed_server_before_anything_runs(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["android", "--benchmark-model", "x", "--artifacts", "y", "--adb-server", "lab-1"])
    assert e.value.code == 2 and "give HOST:PORT" in capsys.readouterr().err


def test_unreachable_server_is_one_line() -> None:
    """Nothing listens on a freshly closed loopback port: the probe says so and how to fix it, adb is not run."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ServerUnreachable, match=rf"adb server 127.0.0.1:{port} not reachable .*ssh -L"):
        adbm.probe_server(AdbServer("127.0.0.1", port))


def test_adb_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AdbNotFound, match="adb not found on PATH"):
        Adb()
    with pytest.raises(AdbNotFound, match="not found or not executable: /nonexistent/adb"):
        Adb("/nonexistent/adb")
    monkeypatch.setenv("ADB", "/nonexistent/adb2")
    with pytest.raises(AdbNotFound, match="/nonexistent/adb2"):
        Adb()


# --- the real adb -------------------------------------------------------------------------------------------
REAL_ADB = shutil.which("adb")
needs_real_adb = pytest.mark.skipif(REAL_ADB is None, reason="adb is not installed (Debian: apt-get install adb)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_adb_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The real adb on a private server port, so the test neither sees nor disturbs another adb server; the
    server it starts is stopped afterwards."""
    port = str(_free_port())
    for k, v in {"ANDROID_ADB_SERVER_PORT": port, "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "ADB_EMU": "0",
                 "ADB_MDNS": "0", "ADB_USB": "0"}.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    yield {"ANDROID_ADB_SERVER_PORT": port}
    subprocess.run([REAL_ADB, "-P", port, "kill-server"], capture_output=True, timeout=30, check=False)


@needs_real_adb
def test_real_adb_without_device_gives_no_device(private_adb_server: dict[str, str]) -> None:
    entries, unreachable = attached(REAL_ADB, [AdbServer()])
    assert entries == [] and unreachable == []
    with pytest.raises(NoDevice, match="no Android device attached"):
        select(entries, None)
    with pytest.raises(NoDevice, match="device ABC123 not attached"):
        select(entries, "ABC123")


@needs_real_adb
def test_cli_with_real_adb_reports_no_device_in_one_line(
    private_adb_server: dict[str, str], tmp_path: Path, make_binary, payload_models: Path, capsys
) -> None:
    rc = main(["android", "--adb", REAL_ADB, "--benchmark-model", str(make_binary()), "--artifacts",
               str(payload_models), "--json", str(tmp_path / "r.json"), "--cooldown", "0"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert lines == ["error: no Android device attached (adb devices lists none): connect one with USB debugging on"]
    assert "Traceback" not in err


def test_device_double_belongs_to_the_tests_not_the_package() -> None:
    """The phone test double is not shipped to users: it lives beside these tests and no package data names it."""
    import tomllib

    import shufflenet.benchmarks as pkg

    assert (Path(__file__).parent / "device_double" / "wire.py").is_file()
    assert not (Path(pkg.__file__).parent / "device_double").exists()
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"].get("package-data", {})
    assert not any("double" in pattern for patterns in package_data.values() for pattern in patterns)
