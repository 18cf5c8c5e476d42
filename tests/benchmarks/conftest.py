"""Fixtures for shufflenet.benchmarks tests.

The only stand-in used anywhere is the TEST DOUBLE of adb (``tests/benchmarks/phone_latency/adb_double/adb``): a
fake device kept in a temp folder that replays the real, verbatim ``benchmark_model`` outputs of ``../shared/fixtures``.
"""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).parents[2]
SHARED = REPO.parent / "shared"
BM_FIXTURES = SHARED / "fixtures" / "benchmark_model"
ADB_DOUBLE = Path(__file__).parent / "phone_latency" / "adb_double" / "adb"
FIXTURE_NAMES = ("linux_42507.txt", "android_logcat_56301.txt", "legacy_r1.13_25904.txt", "percentiles_line.txt")


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """No test here asserts a speed; one intra-op thread keeps them quick on a machine busy with other work
    (OpenMP threads spin-waiting for a CPU can be tens of times slower than one thread)."""
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="session")
def bm_fixtures() -> Path:
    if not all((BM_FIXTURES / n).is_file() for n in FIXTURE_NAMES):
        pytest.skip(f"benchmark_model output fixtures not found in {BM_FIXTURES} (the shared folder is absent)")
    return BM_FIXTURES


def elf_header(abi: str) -> bytes:
    """The first bytes of an ELF executable for ``abi`` (what the double and the ABI check read)."""
    machine = {"arm64-v8a": 183, "armeabi-v7a": 40, "x86_64": 62, "x86": 3}[abi]
    klass = 1 if abi in ("armeabi-v7a", "x86") else 2
    return b"\x7fELF" + bytes([klass, 1, 1]) + bytes(9) + (2).to_bytes(2, "little") + machine.to_bytes(2, "little")


@pytest.fixture
def elf_bytes() -> Callable[[str], bytes]:
    return elf_header


@pytest.fixture
def make_binary(tmp_path: Path) -> Callable[[str], Path]:
    def make(abi: str = "arm64-v8a") -> Path:
        p = tmp_path / f"benchmark_model_{abi}"
        p.write_bytes(elf_header(abi) + bytes(4096))
        p.chmod(0o755)
        return p

    return make


@pytest.fixture
def payload_models(tmp_path: Path) -> Path:
    """A folder of two .tflite files. adb only copies them (the double replays recorded outputs), so their
    bytes are never interpreted; the test with a real export folder is ``test_android_real_export``."""
    d = tmp_path / "artifacts"
    d.mkdir()
    (d / "net_float32.tflite").write_bytes(b"TFL3" + bytes(3000))
    (d / "net_int8_full_integer_int8_io.tflite").write_bytes(b"TFL3" + bytes(1500))
    return d


DEFAULT_PROPS = {
    "ro.product.model": "Pixel Double",
    "ro.product.manufacturer": "TestCo",
    "ro.soc.manufacturer": "QTI",
    "ro.soc.model": "SM8250",
    "ro.product.board": "kona",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi",
}
# A 1 + 3 + 4 big.LITTLE layout (kHz): big cores are 4-7 -> taskset mask f0.
DEFAULT_FREQS = [1804800, 1804800, 1804800, 1804800, 2419200, 2419200, 2419200, 3187200]


@dataclass
class FakeDevices:
    """The double's state folder and a wrapper script named ``adb`` that runs it."""

    home: Path
    adb: Path
    devices: list[dict[str, Any]] = field(default_factory=list)

    def write(self) -> None:
        (self.home / "devices.json").write_text(json.dumps({"devices": self.devices}, indent=1))

    def add(self, serial: str = "FAKE0001", **kw: Any) -> dict[str, Any]:
        dev: dict[str, Any] = {
            "serial": serial,
            "state": "device",
            "abi": "arm64-v8a",
            "props": dict(DEFAULT_PROPS),
            "cpu_max_freqs": list(DEFAULT_FREQS),
            "thermal": [["cpu-0-0-usr", 36500], ["cpu-1-0-usr", 37200], ["battery", 29800]],
            "battery": {"level": 87, "temperature": 298},
            "delegates": ["cpu", "xnnpack"],
            "outputs": [str(BM_FIXTURES / "linux_42507.txt")],
        }
        dev.update(kw)
        self.devices.append(dev)
        self.write()
        return dev

    def calls(self) -> list[list[str]]:
        path = self.home / "calls.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def shell_lines(self) -> list[str]:
        return [c[c.index("shell") + 1] for c in self.calls() if "shell" in c]

    def device_file(self, serial: str, device_path: str) -> Path:
        return self.home / "fs" / serial / device_path.lstrip("/")

    def state(self) -> list[dict[str, Any]]:
        return json.loads((self.home / "devices.json").read_text())["devices"]


@pytest.fixture
def fake_devices(tmp_path: Path, bm_fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDevices]:
    home = tmp_path / "adb_double_home"
    home.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "adb"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ADB_DOUBLE}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("ADB_DOUBLE_HOME", str(home))
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    monkeypatch.delenv("ADB", raising=False)
    fd = FakeDevices(home=home, adb=wrapper)
    fd.write()
    yield fd


@pytest.fixture(scope="session")
def small_export(small_export_result: Any) -> Path:
    """The session's small real export folder (tests/conftest.py): ONNX, TFLite fp32/fp16/int8 and Core ML."""
    return small_export_result.output
