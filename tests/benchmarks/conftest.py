"""Fixtures for shufflenet.benchmarks tests.

The only stand-in used anywhere is the TEST DOUBLE of a phone (``tests/benchmarks/phone_latency/device_double``):
a server speaking adbd's wire protocol to the real adb, answering with real, verbatim outputs of devices and of
``benchmark_model`` recorded in ``../shared/fixtures``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).parents[2]
SHARED = REPO.parent / "shared"
BM_FIXTURES = SHARED / "fixtures" / "benchmark_model"
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


@pytest.fixture(scope="session")
def small_export(small_export_result: Any) -> Path:
    """The session's small real export folder (tests/conftest.py): ONNX, TFLite fp32/fp16/int8 and Core ML."""
    return small_export_result.output
