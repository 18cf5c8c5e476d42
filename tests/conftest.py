"""Shared fixtures: where ../shared is (skipping clearly when it is absent, as on a user's fresh clone), and the
one small real export that the export, benchmark and parity tests of a session share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from shufflenet.export.pipeline import ExportResult

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"{path} is absent: the shared data folder is only beside the repository on developer and CI machines"
        )
    return path


@pytest.fixture(scope="session")
def shared() -> Callable[..., Path]:
    """``shared("data", "x")``: a path under ../shared, or a clear skip when that folder is absent."""
    return shared_path


@pytest.fixture(scope="session")
def imagenet_samples() -> Path:
    return shared_path("data", "imagenet", "samples")


SMALL_ARCH = "shufflenet_v1_g3_0.25x_cifar"  # the smallest variant with grouped convs and channel shuffles


@pytest.fixture(scope="session")
def small_export_result(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    """One real export of a small variant (0.25x g3, 32x32, seeded random init) to every format and precision,
    with parity in its manifest; made once per session and shared, read-only, by every test that needs an export
    folder but not a particular model (tests that change files work on copies)."""
    try:
        from shufflenet.export.pipeline import ExportConfig, run_export
    except ImportError as e:
        pytest.skip(f"the export library is not available: {e}")
    out = tmp_path_factory.mktemp("export") / "small"
    return run_export(ExportConfig(output=out, arch=SMALL_ARCH, random_init=True, seed=3))


@pytest.fixture(scope="session")
def arm64_env() -> object:
    """The aarch64 emulator and userland of the ``litert-arm64`` runtime, installed by the project's own set-up
    script (idempotent: a cached install returns at once, a first run downloads its pinned files)."""
    import subprocess

    from shufflenet.export.arm64 import Arm64Env

    res = subprocess.run(["bash", str(ROOT / "scripts" / "setup_arm64.sh")], capture_output=True, text=True)
    assert res.returncode == 0, f"scripts/setup_arm64.sh failed:\n{res.stderr[-3000:]}"
    return Arm64Env.find()
