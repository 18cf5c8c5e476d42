"""Real CIFAR-10 images for the training tests, pulled out of the shared archive (skipped when it is absent)."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cifar_subset(tmp_path_factory: pytest.TempPathFactory, shared: Callable[..., Path]) -> Path:
    """Six real training images per class, pulled out of the shared CIFAR-10 archive."""
    archive = shared("data", "cifar10-jpeg.tar.gz")
    root = tmp_path_factory.mktemp("cifar")
    counts: dict[str, int] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 4 or parts[-3] != "train":
                continue
            cls = parts[-2]
            if counts.get(cls, 0) >= 6:
                if len(counts) == 10 and all(v >= 6 for v in counts.values()):
                    break
                continue
            counts[cls] = counts.get(cls, 0) + 1
            dest = root / cls / parts[-1]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(tar.extractfile(member).read())
    assert len(counts) == 10
    return root


@pytest.fixture(scope="session")
def own_photos_300(tmp_path_factory: pytest.TempPathFactory, shared: Callable[..., Path]) -> Path:
    """A few hundred photos of 3 classes (real CIFAR-10 training images, each enlarged to its own size, JPEG,
    PNG and WebP): the size of folder a user fine-tunes or trains on."""
    from shufflenet.benchmarks.accuracy.own_data import build_photo_folder

    root = tmp_path_factory.mktemp("own300") / "photos"
    build_photo_folder(shared("data", "cifar10-jpeg.tar.gz"), root, ("bird", "cat", "dog"), 100, split="train")
    return root
