"""The phone tests' lab: two private real adb servers (Debian's adb, installed by `make test` through
android_demo/scripts/setup_toolchain.sh) standing for two lab hosts, and TEST DOUBLE phones attached to them with
``adb connect 127.0.0.1:PORT`` (``device_double``). Everything listens on 127.0.0.1 only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from device_double.lab import ADB, AdbServer, Lab
from device_double.phone import BM_FIXTURES, fixtures_missing
from shufflenet.benchmarks.phone_latency.config import AndroidConfig


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[AdbServer]]:
    if ADB is None:
        pytest.skip("adb is not installed (Debian: apt-get install adb; make test installs it)")
    missing = fixtures_missing()
    if missing:
        pytest.skip(f"recorded outputs not found ({missing[0]}): benchmark_model's are in the shared folder beside "
                    "the repository, on developer and CI machines only")  # fmt: skip
    root = tmp_path_factory.mktemp("adb-servers")
    started: list[AdbServer] = []
    try:
        for i in range(2):
            started.append(AdbServer(root / f"host{i}"))
        yield started
    finally:
        for s in started:
            s.stop()


@pytest.fixture
def lab(servers: list[AdbServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """Phones for one test; adb without ``--adb-server`` talks to the first server (the "local" one)."""
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(servers[0].port))
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    monkeypatch.delenv("ADB", raising=False)
    lab = Lab(tmp_path / "lab", servers)
    yield lab
    lab.close()


@pytest.fixture
def android_cfg(make_binary: Callable[[str], Path], payload_models: Path) -> Callable[..., AndroidConfig]:
    """An AndroidConfig for the lab: the real adb, one thread, XNNPACK, one quick repeat, no pauses."""

    def make(**kw: Any) -> AndroidConfig:
        base: dict[str, Any] = dict(benchmark_model=make_binary("arm64-v8a"), artifacts=payload_models, adb=ADB,
                                    threads=[1], delegates=["xnnpack"], warmup=3, runs=50, repeats=1,
                                    cooldown_s=0.0)  # fmt: skip
        base.update(kw)
        return AndroidConfig(**base)

    return make


def recorded(name: str) -> Path:
    return BM_FIXTURES / name
