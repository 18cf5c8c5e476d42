"""Image-folder datasets (``root/<class>/*.jpg``) decoded once into a cached uint8 array.

Photos of any size are welcome: each one is decoded (JPEG, PNG, WebP, ...), turned upright by its EXIF
orientation, and brought to the network's input size by the variant's own preprocessing (short side resized,
centre crop: ``preprocessing.resize_and_crop``), the very steps that export, evaluation and the app apply.
"""

from __future__ import annotations

import hashlib
import logging
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cli_common import check_output_file
from .files import atomic_output
from .preprocessing import IMAGE_SUFFIXES, Preprocessing, decode_files, is_image_file

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


def class_name(folder_name: str) -> str:
    """A class folder's name as a class name: Unicode NFC (macOS writes names decomposed, NFD; labels files and
    other systems compose them), so that the same word always compares equal."""
    return unicodedata.normalize("NFC", folder_name)


def scan_image_folder(root: str | Path, min_classes: int = 2) -> tuple[list[Path], list[int], list[str]]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; pass a folder laid out as <root>/<class>/*.jpg")
    folders = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                     key=lambda d: class_name(d.name))  # fmt: skip
    classes = [class_name(d.name) for d in folders]
    files: list[Path] = []
    labels: list[int] = []
    empty: list[tuple[Path, list[Path]]] = []  # class folders without an image file, and what else they hold
    for i, d in enumerate(folders):
        every = sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))
        found = [p for p in every if is_image_file(p)]
        if not found:
            empty.append((d, every))
        files += found
        labels += [i] * len(found)
    if files and empty:  # a class that would never see an image, yet travel into labels.txt and every export
        d, others = empty[0]
        why = (
            f"holds no image files ({len(others)} other file(s) skipped, e.g. {others[0].name}: not one of "
            f"{' '.join(IMAGE_SUFFIXES)})"
            if others
            else "is empty"
        )
        more = f" ({len(empty) - 1} more such folders)" if len(empty) > 1 else ""
        raise DatasetError(
            f"class folder {d} {why}{more}; add its photos or move the folder out of {root} (a class without "
            "images cannot be learnt)"
        )
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


def _cache_writable(cache: Path) -> bool:
    """Whether decoded images can be cached in ``cache``: a real probe, made before decoding. A folder that
    cannot be written is a warning, not a failure: the images are decoded again next time."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        check_output_file("--cache", cache / "images.npz")
    except (OSError, ValueError) as e:
        log.warning("warning: the image cache %s cannot be written (%s); going on without it", cache, e)
        return False
    return True


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
    kept = None
    if cache_file.is_file():
        with np.load(cache_file) as z:
            images = z["images"]
            kept = z["kept"] if "kept" in z.files else None  # caches before skipping held every file
    else:
        writable = _cache_writable(cache)
        what = "" if prep is None else f", resized and centre-cropped to {prep.crop[1]}x{prep.crop[0]}"
        where = f"cached afterwards in {cache_file}" if writable else "not cached"
        log.info("decoding %d images from %s%s (%s)", len(files), root, what, where)
        try:
            decoded = decode_files(files, prep)
        except ValueError as e:
            raise DatasetError(f"{e}; remove or replace the file(s)") from None
        images, kept = decoded.images, np.asarray(decoded.kept, dtype=np.int64)
        if decoded.unreadable:
            log.warning("warning: %s", decoded.skipped_line(f"images of {root}", Path(root)))
        if writable:
            with atomic_output(cache_file, "wb") as f:
                np.savez(f, images=images, kept=kept)
    if kept is not None and len(kept) < len(files):
        files, labels = [files[i] for i in kept], [labels[i] for i in kept]
        lost = [c for i, c in enumerate(classes) if i not in set(labels)]
        if lost:
            raise DatasetError(
                f"every image of class folder {Path(root) / lost[0]} is unreadable; replace its files or move the "
                "folder out"
            )
    return ImageArray(images=images, labels=np.asarray(labels, dtype=np.int64), classes=classes, root=Path(root))
