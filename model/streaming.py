"""Image folders of any size, decoded on the fly in DataLoader worker processes (``--data-mode stream``).

The in-memory path (``datasets.load_image_folder``) decodes a whole folder into one uint8 array: right for a few
thousand photos, impossible for ImageNet's 1.28 M (about 193 GB at 224 x 224). Here a folder is only its list of
files, held compactly (one byte buffer of relative paths, one array of labels: about 50 bytes an image, no Python
object per image for worker processes to copy), and each image is read when a batch needs it:

- training: decoded upright (EXIF) and augmented by the official ImageNet transforms (``stream_transforms``),
  with a generator seeded by (seed, epoch, index), so the images do not depend on how many processes or loader
  workers share the work;
- evaluation: decoded upright and resized and centre-cropped by the variant's own preprocessing, the very pixels
  the in-memory path, export, ``shufflenet-eval`` and the app use.

Batches leave the workers as uint8 (3 bytes a pixel) and are normalised on the training device. The memory of a
run is the model, the loader's few batches in flight and the file list: it does not grow with the images' count.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .datasets import DatasetError, scan_image_folder
from .launch import check_global_batch
from .preprocessing import Preprocessing, load_rgb, resize_and_crop
from .stream_transforms import official_train_transform
from .train_config import DATA_MODES

log = logging.getLogger(__name__)
# auto: the in-memory array while the decoded images take at most this much (14,000 images at 224 x 224, every
# CIFAR-size folder); a bigger folder streams.
MEMORY_MODE_MAX_BYTES = 2 * 1024**3


@dataclass
class FolderIndex:
    """The images of ``root/<class>/...``: relative paths in one buffer (``blob[offsets[i]:offsets[i + 1]]``),
    labels in one array."""

    root: Path
    blob: np.ndarray  # uint8, the file-system encoding of every relative path, back to back
    offsets: np.ndarray  # int64, len + 1
    labels: np.ndarray  # int64
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, i: int) -> Path:
        return self.root / os.fsdecode(self.blob[self.offsets[i] : self.offsets[i + 1]].tobytes())

    def decoded_bytes(self, prep: Preprocessing) -> int:
        """What the in-memory path would hold: every image at the variant's input size, uint8 RGB."""
        return len(self) * prep.crop[0] * prep.crop[1] * 3


def index_image_folder(root: str | Path, min_classes: int = 2, limit: int = 0) -> FolderIndex:
    """The files of ``root/<class>/...`` (the in-memory path's scan, same rules and errors), held compactly;
    ``limit`` > 0 keeps that many, evenly spaced so every class keeps its share (as ``load_image_folder``)."""
    if limit < 0:
        raise DatasetError(f"limit {limit} is negative; pass a number of images (0: all)")
    root = Path(root)
    files, labels, classes = scan_image_folder(root, min_classes)
    keep = np.arange(len(files))
    if 0 < limit < len(files):
        keep = np.unique(np.linspace(0, len(files) - 1, limit).round().astype(np.int64))
    encoded = [os.fsencode(files[i].relative_to(root)) for i in keep]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return FolderIndex(root, blob, offsets, np.asarray(labels, dtype=np.int64)[keep], classes)


def choose_data_mode(mode: str, n_images: int, prep: Preprocessing) -> str:
    """``memory`` or ``stream`` for ``mode`` (``auto``: by the decoded size, ``MEMORY_MODE_MAX_BYTES``)."""
    if mode not in DATA_MODES:
        raise ValueError(f"unknown data mode {mode!r}; choose one of {', '.join(DATA_MODES)}")
    if mode != "auto":
        return mode
    return "memory" if n_images * prep.crop[0] * prep.crop[1] * 3 <= MEMORY_MODE_MAX_BYTES else "stream"


@dataclass
class StreamItem:
    image: torch.Tensor  # H x W x 3 uint8 (empty where no file could be read)
    label: int  # -1: no image (an unreadable file in evaluation, dropped from its batch)
    skipped: tuple[str, ...] = ()  # one line per unreadable file met on the way (the file and why)


SUBSTITUTE_TRIES = 16  # training: an unreadable file is replaced by the next readable one of the folder


class StreamingFolder(torch.utils.data.Dataset):
    """One image of a ``FolderIndex`` per item, decoded when asked: augmented (``train``) or centre-cropped.

    Items are asked for as ``(epoch, index)`` (``EpochSampler``) so that the workers, which live across epochs,
    seed each image's augmentation from the run's seed, the epoch and the image alone."""

    def __init__(self, index: FolderIndex, prep: Preprocessing, train: bool, seed: int = 0) -> None:
        self.index = index
        self.size = (int(prep.crop[0]), int(prep.crop[1]))
        self.prep = prep
        self.train = train
        self.seed = seed

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: tuple[int, int] | int) -> StreamItem:
        """The image ``key`` (``(epoch, index)`` or ``index``). An unreadable file is skipped and named: in
        training the next readable image of the folder takes its place (every process keeps its batch size, so
        the processes stay in step), in evaluation the item is empty and dropped from its batch."""
        epoch, i = key if isinstance(key, tuple) else (0, key)
        skipped: list[str] = []
        for j in range(SUBSTITUTE_TRIES if self.train else 1):
            k = (i + j) % len(self.index)
            try:
                image = load_rgb(self.index.path(k))
            except ValueError as e:
                skipped.append(str(e))
                continue
            if self.train:
                rng = np.random.default_rng((self.seed, epoch, i))
                out = official_train_transform(image, rng, self.size)
            else:
                out = resize_and_crop(image, self.prep)
            return StreamItem(torch.from_numpy(np.ascontiguousarray(out)), int(self.index.labels[k]), tuple(skipped))
        return StreamItem(torch.empty(0, dtype=torch.uint8), -1, tuple(skipped))


def collate(items: Sequence[StreamItem]) -> tuple[torch.Tensor, torch.Tensor, list[str], int]:
    """A batch: B x H x W x 3 uint8 images, B labels, a line for every unreadable file met (none, normally) and
    how many items had no image at all (left out)."""
    kept = [it for it in items if it.label >= 0]
    skipped = [line for it in items for line in it.skipped]
    dropped = len(items) - len(kept)
    if not kept:
        return torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.int64), skipped, dropped
    return torch.stack([it.image for it in kept]), torch.tensor([it.label for it in kept]), skipped, dropped


class EpochSampler(torch.utils.data.Sampler[tuple[int, int]]):
    """A ``DistributedSampler`` (this process's share of a seeded per-epoch permutation, padded so every process
    takes as many steps) whose items carry their epoch, for the per-image augmentation seed."""

    def __init__(self, n: int, rank: int, world: int, seed: int, shuffle: bool = True) -> None:
        self.inner = torch.utils.data.DistributedSampler(
            range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, int(i)) for i in self.inner)


def default_loader_workers(local_world: int) -> int:
    """Decoding processes per training process: the node's cores shared out, at least one each."""
    return max(1, (os.cpu_count() or 1) // max(1, local_world) - 1)


class StreamBatches:
    """One process's training batches from a streamed folder: its share (``rank`` of ``world``) of every global
    batch of ``batch_size`` images, decoded by ``workers`` loader processes; or, for evaluation (``train`` off),
    every ``world``-th image once, in order, without padding."""

    def __init__(
        self, index: FolderIndex, prep: Preprocessing, batch_size: int, rank: int, world: int, seed: int,
        workers: int, train: bool = True, drop_last: bool = False, pin_memory: bool = False,
    ) -> None:  # fmt: skip
        if train:
            check_global_batch(batch_size, world)
        self.dataset = StreamingFolder(index, prep, train, seed)
        self.warned: set[str] = set()
        self.local_batch = batch_size // world if train else batch_size
        sampler: Any
        if train:
            self.sampler: EpochSampler | None = EpochSampler(len(index), rank, world, seed)
            sampler = self.sampler
        else:
            self.sampler = None
            sampler = range(rank, len(index), world)  # every image once over the processes: no padding
        self.loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.local_batch, sampler=sampler, num_workers=workers, collate_fn=collate,
            pin_memory=pin_memory, drop_last=drop_last, persistent_workers=workers > 0,
            prefetch_factor=2 if workers > 0 else None,
        )  # fmt: skip

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches (uint8 images on the host, labels). An unreadable file is named in a warning, once
        a run; a training batch whose files are all unreadable (no substitute found) stops it in one line."""
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        for images, labels, skipped, dropped in self.loader:
            if self.sampler is not None and dropped:  # training: no readable file among SUBSTITUTE_TRIES
                raise DatasetError(f"{skipped[0]}, and the {SUBSTITUTE_TRIES - 1} files after it are unreadable too; "
                                   "check the folder")  # fmt: skip
            for line in skipped:
                if line not in self.warned:
                    self.warned.add(line)
                    log.warning("warning: %s; skipped (remove or replace the file)", line)
            if len(labels):
                yield images, labels
