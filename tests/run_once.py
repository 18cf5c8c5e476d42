"""Expensive test inputs (real exports, tool set-ups) made once per test run and shared by every pytest-xdist
worker, instead of once per worker."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temp folder of this test run: under xdist, the parent of the workers' own folders (one per run), else
    the session's own base folder (never the parent, which holds other runs)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], T]) -> T:
    """``make(folder)``, made once per test run and shared by every xdist worker: the first worker to ask makes it
    under a file lock, the others wait and read the pickled result. A failed or skipped attempt leaves nothing
    behind, so the next worker to ask tries again (and fails or skips the same way)."""
    from filelock import FileLock

    root = run_folder(tmp_path_factory)
    done = root / f"once-{name}.pickle"
    with FileLock(str(root / f"once-{name}.lock")):
        if done.is_file():
            return pickle.loads(done.read_bytes())
        value = make(Path(tempfile.mkdtemp(prefix=f"once-{name}-", dir=root)))
        done.write_bytes(pickle.dumps(value))
        return value
