"""Image-folder datasets (``root/<class>/*.jpg``) decoded once into a cached uint8 array."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import atomic_output
from .preprocessing import IMAGE_SUFFIXES, load_rgb

log = logging.getLogger(__name__)


class DatasetError(ValueError):
    """A dataset folder that cannot be used; the message is one line naming the problem and the fix."""


@dataclass
class ImageArray:
    images: np.ndarray  # N x H x W x 3 uint8 RGB
    labels: np.ndarray  # N int64
    classes: list[str]
    root: Path

    def __len__(self) -> int:
        return len(self.labels)


def scan_image_folder(root: str | Path, min_classes: int = 2) -> tuple[list[Path], list[int], list[str]]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; pass a folder laid out as <root>/<class>/*.jpg")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    files: list[Path] = []
    labels: list[int] = []
    for i, c in enumerate(classes):
        found = sorted(p for p in (root / c).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [i] * len(found)
    used = sorted({classes[i] for i in labels})
    if not files:
        raise DatasetError(f"no images found under {root}; expected <root>/<class>/*.jpg (or .png)")
    if len(used) < min_classes:
        raise DatasetError(
            f"{root} has images in {len(used)} class folder(s) ({', '.join(used)}); "
            f"at least {min_classes} classes are needed, one sub-folder per class"
        )
    return files, labels, classes


def _cache_key(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    return Path(os.environ.get("SHUFFLENET_CACHE", Path.home() / ".cache" / "shufflenet-mobile"))


def _decode_all(files: list[Path]) -> Iterator[np.ndarray]:
    """Decoded images in file order; several files at once (the decoder releases the GIL)."""
    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        yield from pool.map(load_rgb, files)


def load_image_folder(
    root: str | Path,
    size: tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
    min_classes: int = 2,
    limit: int = 0,
) -> ImageArray:
    """Decode every image once; later calls read the cached ``.npz`` (keyed by paths, sizes and mtimes).

    With ``size`` every image must already be ``size`` (H, W): training does no resizing. ``limit`` > 0 keeps
    that many images, evenly spaced over the sorted list so that every class keeps its share (smoke runs).
    """
    if limit < 0:
        raise DatasetError(f"limit {limit} is negative; pass a number of images (0: all)")
    files, labels, classes = scan_image_folder(root, min_classes)
    if 0 < limit < len(files):
        keep = np.unique(np.linspace(0, len(files) - 1, limit).round().astype(np.int64))
        files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_file = cache / f"images-{_cache_key(files)}.npz"
    if cache_file.is_file():
        with np.load(cache_file) as z:
            images = z["images"]
    else:
        log.info("decoding %d images from %s (cached afterwards in %s)", len(files), root, cache_file)
        first = None
        images = None
        decoded = _decode_all(files)
        for n, f in enumerate(files):
            try:
                img = next(decoded)
            except ValueError as e:
                raise DatasetError(f"{e}; remove or replace the file") from None
            if first is None:
                first = img.shape
                images = np.empty((len(files), *img.shape), dtype=np.uint8)
            if img.shape != first:
                raise DatasetError(
                    f"image {f} is {img.shape[1]}x{img.shape[0]} but {files[0].name} is {first[1]}x{first[0]}; "
                    "all training images must have one size"
                )
            images[n] = img
        with atomic_output(cache_file, "wb") as f:
            np.savez(f, images=images)
    if size is not None and tuple(images.shape[1:3]) != tuple(size):
        raise DatasetError(
            f"images in {root} are {images.shape[2]}x{images.shape[1]}, the variant expects {size[1]}x{size[0]}; "
            "choose a variant with that input size or resize the dataset"
        )
    return ImageArray(images=images, labels=np.asarray(labels, dtype=np.int64), classes=classes, root=Path(root))
