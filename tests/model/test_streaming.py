"""Streamed image folders on real photos: the same pixels as the in-memory path for evaluation, the same
training images whatever the number of processes or loader workers, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from shufflenet.model.datasets import load_image_folder, scan_image_folder
from shufflenet.model.registry import get_variant
from shufflenet.model.streaming import (
    MEMORY_MODE_MAX_BYTES,
    StreamBatches,
    StreamingFolder,
    choose_data_mode,
    index_image_folder,
)

IMAGENET = get_variant("shufflenet_v1_g1_0.25x").preprocessing
CIFAR = get_variant("shufflenet_v1_g3_0.25x_cifar").preprocessing


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory, imagenet_samples: Path) -> Path:
    """12 real ImageNet photos of assorted sizes in 3 class folders (hard links: nothing is copied)."""
    root = tmp_path_factory.mktemp("stream") / "photos"
    for i, f in enumerate(sorted(imagenet_samples.iterdir())[:12]):
        (root / f"c{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / f"c{i % 3}" / f.name).hardlink_to(f)
    return root


def test_index_holds_the_scan_compactly_and_limit_keeps_every_class(own_photos: dict[str, Path]) -> None:
    files, labels, classes = scan_image_folder(own_photos["train"])
    index = index_image_folder(own_photos["train"])
    assert [index.path(i) for i in range(len(index))] == files
    assert index.labels.tolist() == labels and index.classes == classes
    assert isinstance(index.blob, np.ndarray) and index.blob.dtype == np.uint8  # no Python object per image
    small = index_image_folder(own_photos["train"], limit=6)
    assert np.bincount(small.labels).tolist() == [2, 2, 2]


def test_streamed_evaluation_images_are_the_in_memory_pixels(own_photos: dict[str, Path], tmp_path: Path) -> None:
    """Photos of every size and format, some stored sideways with an EXIF orientation: each streamed image is
    exactly the in-memory path's (upright, resized, centre-cropped by the variant's preprocessing)."""
    memory = load_image_folder(own_photos["test"], CIFAR, tmp_path / "cache")
    stream = StreamingFolder(index_image_folder(own_photos["test"]), CIFAR, train=False)
    assert len(stream) == len(memory)
    for i in range(len(stream)):
        item = stream[i]
        assert item.skipped == () and item.label == memory.labels[i]
        assert np.array_equal(item.image.numpy(), memory.images[i])


def _global_batches(index: object, world: int, workers: int, epoch: int) -> list[list[bytes]]:
    """Each step's images over all ``world`` processes (as sorted bytes: the order within a batch is free)."""
    ranks = [list(StreamBatches(index, IMAGENET, 6, r, world, seed=5, workers=workers).epoch(epoch))
             for r in range(world)]  # fmt: skip
    steps = []
    for per_rank in zip(*ranks, strict=True):
        images = torch.cat([imgs for imgs, _ in per_rank])
        steps.append(sorted(img.numpy().tobytes() for img in images))
    return steps


def test_training_images_do_not_depend_on_processes_or_loader_workers(photo_folder: Path) -> None:
    """Random-resized crops, jitter and flips of real photos: two processes with a batch of 3 each see, step by
    step, exactly the images one process with a batch of 6 sees, with or without loader worker processes."""
    index = index_image_folder(photo_folder)
    one = _global_batches(index, world=1, workers=0, epoch=1)
    assert len(one) == 2 and all(len(s) == 6 for s in one)
    assert _global_batches(index, world=2, workers=2, epoch=1) == one
    assert _global_batches(index, world=1, workers=0, epoch=2) != one  # another epoch: other images and crops


def test_the_global_batch_must_split_over_the_processes(photo_folder: Path) -> None:
    with pytest.raises(ValueError, match=r"--batch-size 6 \(the global batch\) does not split over 4 processes"):
        StreamBatches(index_image_folder(photo_folder), IMAGENET, 6, 0, 4, seed=0, workers=0)


def test_an_unreadable_file_is_skipped_and_named_once(
    photo_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Training: the next readable photo takes its place (every process keeps its batch size); evaluation: it is
    left out. Either way one warning names it."""
    root = tmp_path / "photos"
    for f in photo_folder.rglob("*.JPEG"):
        (root / f.parent.name).mkdir(parents=True, exist_ok=True)
        (root / f.parent.name / f.name).hardlink_to(f)
    (root / "c1" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    index = index_image_folder(root)
    train_batches = StreamBatches(index, IMAGENET, 13, 0, 1, seed=0, workers=1)
    with caplog.at_level("WARNING"):
        sizes = [len(labels) for _, labels in train_batches.epoch(0)] + [len(y) for _, y in train_batches.epoch(1)]
    assert sizes == [13, 13]
    warned = [r.getMessage() for r in caplog.records if "broken.jpg" in r.getMessage()]
    assert len(warned) == 1 and "\n" not in warned[0] and "skipped (remove or replace the file)" in warned[0]
    test_batches = StreamBatches(index, IMAGENET, 5, 0, 1, seed=0, workers=0, train=False)
    assert sum(len(labels) for _, labels in test_batches.epoch(0)) == 12


def test_auto_mode_keeps_small_folders_in_memory() -> None:
    per_image = 224 * 224 * 3
    assert choose_data_mode("auto", MEMORY_MODE_MAX_BYTES // per_image, IMAGENET) == "memory"
    assert choose_data_mode("auto", MEMORY_MODE_MAX_BYTES // per_image + 1, IMAGENET) == "stream"
    assert choose_data_mode("auto", 60_000, CIFAR) == "memory"  # all of CIFAR-10: 184 MB
    assert choose_data_mode("auto", 1_281_167, CIFAR) == "stream"  # ImageNet even at 32 x 32: 3.9 GB
    assert choose_data_mode("stream", 10, CIFAR) == "stream" and choose_data_mode("memory", 10**7, IMAGENET) == "memory"
