"""The adb layer: output parsers, core masks, ELF ABI, and the real adb (Debian's package) where installed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from shufflenet.benchmarks.cli_bench import main
from shufflenet.benchmarks.phone_latency import adb as adbm
from shufflenet.benchmarks.phone_latency.adb import Adb, AdbNotFound, BenchError, NoDevice, cores_mask, elf_abi


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


def test_parse_getprop_cpu_thermal_battery() -> None:
    props = adbm.parse_getprop("[ro.product.model]: [Pixel 7]\n[ro.product.cpu.abilist]: [arm64-v8a]\n[x]: []\n")
    assert props == {"ro.product.model": "Pixel 7", "ro.product.cpu.abilist": "arm64-v8a", "x": ""}
    freqs = adbm.parse_cpu_max_freqs(
        "/sys/devices/system/cpu/cpu10/cpufreq/cpuinfo_max_freq:2000000\n"
        "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq:1800000\n"
        "/sys/devices/system/cpu/cpu1/cpufreq/cpuinfo_max_freq:1800000\n"
    )
    assert freqs == {0: 1800000, 1: 1800000, 10: 2000000}
    thermal = adbm.parse_thermal(
        "/sys/class/thermal/thermal_zone0/type:cpu-0-0\n/sys/class/thermal/thermal_zone1/type:battery\n"
        "/sys/class/thermal/thermal_zone10/type:cpu-0-0\n/sys/class/thermal/thermal_zone0/temp:41500\n"
        "/sys/class/thermal/thermal_zone1/temp:30\n/sys/class/thermal/thermal_zone10/temp:40000\n"
    )
    assert thermal == {"cpu-0-0": 41.5, "battery": 30.0, "cpu-0-0(thermal_zone10)": 40.0}
    battery = adbm.parse_battery("Current Battery Service state:\n  level: 64\n  scale: 100\n  temperature: 315\n")
    assert battery == {"level": 64.0, "temperature_c": 31.5}


def test_cores_mask() -> None:
    freqs = {0: 1800, 1: 1800, 2: 1800, 3: 1800, 4: 2400, 5: 2400, 6: 2400, 7: 3100}
    assert cores_mask("big", freqs) == ("f0", [4, 5, 6, 7])
    assert cores_mask("little", freqs) == ("f", [0, 1, 2, 3])
    assert cores_mask("all", freqs) == ("ff", list(range(8)))
    assert cores_mask("0x80", freqs) == ("80", [7])
    assert cores_mask("big", {0: 2000, 1: 2000}) == ("3", [0, 1])  # all alike: every core is "big"
    for bad in ("0", "zz", "100"):  # zero, not hex, core 8 missing
        with pytest.raises(BenchError):
            cores_mask(bad, freqs)
    with pytest.raises(BenchError, match="no cpuinfo_max_freq"):
        cores_mask("big", {})


def test_elf_abi(tmp_path: Path, elf_bytes) -> None:
    for abi in ("arm64-v8a", "armeabi-v7a", "x86_64", "x86"):
        (tmp_path / abi).write_bytes(elf_bytes(abi) + bytes(64))
        assert elf_abi(tmp_path / abi) == abi
    (tmp_path / "script").write_text("#!/bin/sh\necho hi\n")
    assert elf_abi(tmp_path / "script") is None
    assert elf_abi(tmp_path / "missing") is None


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
def private_adb_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The real adb on a private server port, so the test neither sees nor disturbs another adb server; the
    server it starts is stopped afterwards."""
    port = str(_free_port())
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", port)
    yield {"ANDROID_ADB_SERVER_PORT": port}
    subprocess.run([REAL_ADB, "-P", port, "kill-server"], capture_output=True, timeout=30, check=False)


@needs_real_adb
def test_real_adb_without_device_gives_no_device(private_adb_server: dict[str, str]) -> None:
    adb = Adb(REAL_ADB, env=private_adb_server)
    assert adb.devices() == []
    with pytest.raises(NoDevice, match="no Android device attached"):
        adb.select()
    with pytest.raises(NoDevice, match="device ABC123 not attached"):
        adb.select("ABC123")


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
    assert os.environ["ANDROID_ADB_SERVER_PORT"] == private_adb_server["ANDROID_ADB_SERVER_PORT"]


def test_adb_double_belongs_to_the_tests_not_the_package() -> None:
    """The test double of adb is not shipped to users: it lives beside these tests and no package data names it."""
    import tomllib

    import shufflenet.benchmarks as pkg

    assert (Path(__file__).parent / "adb_double" / "adb").is_file()
    assert not (Path(pkg.__file__).parent / "adb_double").exists()
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"].get("package-data", {})
    assert not any("adb_double" in pattern for patterns in package_data.values() for pattern in patterns)
