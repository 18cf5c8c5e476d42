"""Image-folder datasets (``root/<class>/*.jpg``) decoded once into a cached uint8 array.

Photos of any size are welcome: each one is decoded (JPEG, PNG, WebP, ...), turned upright by its EXIF
orientation, and brought to the network's input size by the variant's own preprocessing (short side resized,
centre crop: ``preprocessing.resize_and_crop``), the very steps that export, evaluation and the app apply.
"""

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
from .preprocessing import IMAGE_SUFFIXES, Preprocessing, load_rgb, resize_and_crop

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


def _cache_key(files: list[Path], prep: Preprocessing | None) -> str:
    h = hashlib.sha256()
    if prep is not None:  # the geometry decides the cached pixels; normalisation is applied later
        h.update(f"{prep.resize}|{tuple(prep.crop)}|{prep.interpolation}\n".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    return Path(os.environ.get("SHUFFLENET_CACHE", Path.home() / ".cache" / "shufflenet-mobile"))


def _decode_all(files: list[Path], prep: Preprocessing | None) -> Iterator[np.ndarray]:
    """Decoded (and, with ``prep``, resized and centre-cropped) images in file order; several files at once
    (the decoder and the resize release the GIL)."""

    def one(path: Path) -> np.ndarray:
        img = load_rgb(path)
        return img if prep is None else resize_and_crop(img, prep)

    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        yield from pool.map(one, files)


def _as_prep(size: Preprocessing | tuple[int, int] | None) -> Preprocessing | None:
    """A variant's preprocessing as given, or for a bare (H, W): short side to min(H, W), centre crop H x W
    (the geometry of the small-image variants)."""
    if size is None or isinstance(size, Preprocessing):
        return size
    h, w = (int(v) for v in size)
    return Preprocessing(resize=min(h, w), crop=(h, w))


def load_image_folder(
    root: str | Path,
    size: Preprocessing | tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
    min_classes: int = 2,
    limit: int = 0,
) -> ImageArray:
    """Decode every image once; later calls read the cached ``.npz`` (keyed by paths, sizes, mtimes and the
    geometry of ``size``).

    ``size`` is the variant's ``Preprocessing`` (or a bare (H, W)): every image, whatever its size, is turned
    upright (EXIF), resized and centre-cropped by it, as export, evaluation and the app do. Without it, the
    images must share one size. ``limit`` > 0 keeps that many images, evenly spaced over the sorted list so
    that every class keeps its share (smoke runs).
    """
    if limit < 0:
        raise DatasetError(f"limit {limit} is negative; pass a number of images (0: all)")
    prep = _as_prep(size)
    files, labels, classes = scan_image_folder(root, min_classes)
    if 0 < limit < len(files):
        keep = np.unique(np.linspace(0, len(files) - 1, limit).round().astype(np.int64))
        files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_file = cache / f"images-{_cache_key(files, prep)}.npz"
    if cache_file.is_file():
        with np.load(cache_file) as z:
            images = z["images"]
    else:
        what = "" if prep is None else f", resized and centre-cropped to {prep.crop[1]}x{prep.crop[0]}"
        log.info("decoding %d images from %s%s (cached afterwards in %s)", len(files), root, what, cache_file)
        first = None
        images = None
        decoded = _decode_all(files, prep)
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
                    "pass the variant's preprocessing to bring every image to its input size"
                )
            images[n] = img
        with atomic_output(cache_file, "wb") as f:
            np.savez(f, images=images)
    return ImageArray(images=images, labels=np.asarray(labels, dtype=np.int64), classes=classes, root=Path(root))
