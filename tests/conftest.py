"""Shared fixtures: where ../shared is, and skipping clearly when it is absent (a user's fresh clone)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def arm64_env() -> object:
    """The aarch64 emulator and userland of the ``litert-arm64`` runtime, installed by the project's own set-up
    script (idempotent: a cached install returns at once, a first run downloads its pinned files)."""
    import subprocess

    from shufflenet.export.arm64 import Arm64Env

    res = subprocess.run(["bash", str(ROOT / "scripts" / "setup_arm64.sh")], capture_output=True, text=True)
    assert res.returncode == 0, f"scripts/setup_arm64.sh failed:\n{res.stderr[-3000:]}"
    return Arm64Env.find()
