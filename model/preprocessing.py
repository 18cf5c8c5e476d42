"""How an image becomes a network input, described as data and applied with NumPy.

Every weights entry carries a :class:`Preprocessing`; exporters, evaluators and the Android app read it
from there (the export writes it into ``preprocessing.json``). The resize is implemented here rather than
borrowed from PIL so that other languages (the Android demo's Java code) can reproduce it bit for bit:
a separable triangle (bilinear) filter whose support widens when downscaling (antialiasing, as PIL does),
accumulated in float64 tap by tap in a fixed order, rounded half-up to uint8.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".heic", ".heif")


@dataclass(frozen=True)
class Preprocessing:
    """What the weights expect: ``input = (uint8_pixels[colour_order] * scale - mean) / std``, CHW float32.

    ``resize`` is the target of the short side, ``crop`` the centre crop (square ``crop x crop`` or
    ``(h, w)``). The long side after resizing is ``int(resize * long / short + 0.5)`` (the official
    ShuffleNet evaluation rule).
    """

    resize: int
    crop: tuple[int, int]
    colour_order: str = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    interpolation: str = "bilinear-antialias"
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.colour_order not in ("RGB", "BGR"):
            raise ValueError(f"colour_order must be RGB or BGR, got {self.colour_order!r}")
        if self.interpolation != "bilinear-antialias":
            raise ValueError(f"unsupported interpolation {self.interpolation!r}")
        if min(self.crop) > self.resize:
            raise ValueError(f"crop {self.crop} is larger than the resize target {self.resize}")

    def with_input_size(self, height: int, width: int) -> Preprocessing:
        """The same preprocessing for another network input size (resize keeps its ratio to the crop)."""
        ratio = self.resize / min(self.crop)
        return Preprocessing(
            resize=max(round(min(height, width) * ratio), min(height, width)),
            crop=(height, width),
            colour_order=self.colour_order,
            scale=self.scale,
            mean=self.mean,
            std=self.std,
            interpolation=self.interpolation,
            notes=self.notes,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["crop"] = list(self.crop)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        known["crop"] = tuple(known["crop"])
        known["mean"] = tuple(known.get("mean", (0.0, 0.0, 0.0)))
        known["std"] = tuple(known.get("std", (1.0, 1.0, 1.0)))
        return cls(**known)


def _resize_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output pixel: first source index and the normalised filter taps (PIL's bilinear scheme)."""
    scale = in_size / out_size
    support = max(scale, 1.0)  # triangle filter of radius 1, widened when downscaling
    taps = math.ceil(support) * 2 + 1
    starts = np.zeros(out_size, dtype=np.int64)
    weights = np.zeros((out_size, taps), dtype=np.float64)
    for i in range(out_size):
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), in_size)
        xs = np.arange(lo, hi, dtype=np.float64)
        w = np.maximum(0.0, 1.0 - np.abs((xs - centre + 0.5) / support))
        total = w.sum()
        starts[i] = lo
        weights[i, : hi - lo] = w / total if total > 0 else 0.0
    return starts, weights


def _resize_axis(img: np.ndarray, out_size: int, axis: int) -> np.ndarray:
    in_size = img.shape[axis]
    if in_size == out_size:
        return img
    starts, weights = _resize_weights(in_size, out_size)
    src = np.moveaxis(img, axis, 0)
    out = np.zeros((out_size, *src.shape[1:]), dtype=np.float64)
    padded = np.concatenate([src, np.zeros((weights.shape[1], *src.shape[1:]), dtype=src.dtype)], axis=0)
    # Tap-major accumulation in a fixed order: other implementations reproduce it exactly.
    for k in range(weights.shape[1]):
        w = weights[:, k].reshape((-1,) + (1,) * (src.ndim - 1))
        out += w * padded[starts + k]
    return np.moveaxis(out, 0, axis)


def resize_uint8(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an HxWx3 uint8 image; rows first, then columns; rounded half-up and clipped to uint8."""
    x = img.astype(np.float64)
    x = _resize_axis(x, height, 0)
    x = np.clip(np.floor(x + 0.5), 0, 255)
    x = _resize_axis(x, width, 1)
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def resized_size(height: int, width: int, short: int) -> tuple[int, int]:
    """Official rule: the short side becomes ``short``, the long one ``int(short * long / short_in + 0.5)``."""
    if height <= width:
        return short, int(short * width / height + 0.5)
    return int(short * height / width + 0.5), short


def resize_and_crop(img: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """HxWx3 uint8 RGB -> crop_h x crop_w x 3 uint8 RGB (resize short side, centre crop)."""
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got shape {img.shape} dtype {img.dtype}")
    h, w = img.shape[:2]
    ch, cw = prep.crop
    # Scale so that the crop fits even for a non-square crop (short side alone may not suffice).
    short = max(prep.resize, math.ceil(max(ch * min(h, w) / h, cw * min(h, w) / w)))
    nh, nw = resized_size(h, w, short)
    img = resize_uint8(img, nh, nw)
    top = (nh - ch) // 2
    left = (nw - cw) // 2
    return img[top : top + ch, left : left + cw]


# The Android demo decodes photos at reduced size before this preprocessing (BitmapFactory's power-of-two
# inSampleSize). The rule lives here too, so the app's Java (android_demo/.../core/DecodeSize.java) and
# Python agree and the golden test compares them on the same pixels.
DECODE_OVERSAMPLING = 2
DECODE_MAX_PIXELS = 2_000_000


def decode_min_short_side(prep: Preprocessing) -> int:
    """Shortest side worth decoding for ``prep``: twice its resize target (or crop, if larger)."""
    return DECODE_OVERSAMPLING * max(prep.resize, *prep.crop)


def decode_sample_size(height: int, width: int, min_short_side: int) -> int:
    """Largest power of two keeping ``min(h, w) // s >= min_short_side``; doubled while over the pixel cap."""
    if height < 1 or width < 1 or min_short_side < 1:
        raise ValueError(f"need positive sizes, got {height}x{width} and {min_short_side}")
    s = 1
    while min(height, width) // (2 * s) >= min_short_side:
        s *= 2
    while (width // s) * (height // s) > DECODE_MAX_PIXELS:
        s *= 2
    return s


def subsample(img: np.ndarray, s: int) -> np.ndarray:
    """Android's sampled decode of a lossless image: the pixel at ``s // 2`` of every ``s x s`` block."""
    if s == 1:
        return img
    h, w = img.shape[:2]
    rows = np.minimum(s // 2 + s * np.arange(max(1, h // s)), h - 1)
    cols = np.minimum(s // 2 + s * np.arange(max(1, w // s)), w - 1)
    return np.ascontiguousarray(img[rows][:, cols])


def normalize_hwc(images: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """uint8 RGB ``... x H x W x 3`` -> float32 network values in the same layout, computed in float32."""
    x = images[..., ::-1] if prep.colour_order == "BGR" else images
    x = x.astype(np.float32) * np.float32(prep.scale)
    return (x - np.asarray(prep.mean, dtype=np.float32)) / np.asarray(prep.std, dtype=np.float32)


def normalize(img: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """HxWx3 uint8 RGB -> 3xHxW float32 network input."""
    return np.ascontiguousarray(normalize_hwc(img, prep).transpose(2, 0, 1))


# Pillow modes of more than 8 bits per sample: grey 16-bit PNG/TIFF ("I;16*", or "I" in some decoders) and
# 16-bit colour ("RGB;16"-style modes where Pillow keeps them). ``convert("RGB")`` clips such values at 255 (a
# 16-bit photo decodes all white); they are scaled to 8 bits instead, ``round(v / 257)`` (65535 -> 255).
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _to_rgb8(im: Any) -> np.ndarray:
    """A decoded Pillow image as HxWx3 uint8 RGB, 16-bit samples scaled (not clipped) to 8 bits."""
    if im.mode in _SIXTEEN_BIT:
        v = np.asarray(im, dtype=np.int64)
        grey = np.clip((v * 255 + 32767) // 65535, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode == "F":  # float samples (a float TIFF): taken as 0..1 when they fit, else as 0..255
        v = np.asarray(im, dtype=np.float64)
        v = v * 255.0 if np.nanmax(v, initial=0.0) <= 1.0 else v
        grey = np.clip(np.floor(np.nan_to_num(v) + 0.5), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    a = np.asarray(im)
    if a.dtype == np.uint16 and a.ndim == 3:  # 16-bit colour kept as such
        a = ((a[..., :3].astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)
        return np.ascontiguousarray(a)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def load_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to HxWx3 uint8 RGB, upright by its EXIF orientation, 16-bit samples scaled to 8 bits;
    HEIC/HEIF (what iPhones write) through pillow-heif. Raises ValueError with the path when unreadable."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    try:
        with Image.open(path) as im:
            upright = ImageOps.exif_transpose(im)  # a phone photo's pixels as it is shown (as the app does)
            return _to_rgb8(upright)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e


_heif_registered = False


def _register_heif() -> None:
    """Let Pillow open HEIC/HEIF files (pillow-heif, a pinned dependency); without it they stay unreadable."""
    global _heif_registered
    if _heif_registered:
        return
    _heif_registered = True
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return
    register_heif_opener()


def preprocess_array(img: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """HxWx3 uint8 RGB -> 3xHxW float32 input for the network."""
    return normalize(resize_and_crop(img, prep), prep)


def preprocess_file(path: str | Path, prep: Preprocessing) -> np.ndarray:
    return preprocess_array(load_rgb(path), prep)


def is_image_file(path: Path) -> bool:
    """Whether a file is taken as an image: by its suffix; hidden files (``._IMG_1.jpg``, the resource forks macOS
    leaves on other disks) are not."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def list_images(folder: str | Path) -> list[Path]:
    """Image files below ``folder`` (recursively), sorted for determinism."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if is_image_file(p))


@dataclass
class DecodedFiles:
    """The readable files of a list, decoded (and, with a preprocessing, resized and centre-cropped), and the
    files that could not be read: skipped, counted and named, never a reason to stop a long run half-way."""

    images: np.ndarray  # N x H x W x 3 uint8 RGB of the readable files, in the order given
    kept: list[int]  # their indices in the list given
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)
    total: int = 0

    def skipped_line(self, what: str = "images", root: Path | None = None, shown: int = 3) -> str:
        """One line for the terminal: how many were skipped, and the first few names with the reason."""
        names = []
        for f, why in self.unreadable[:shown]:
            name = str(f.relative_to(root)) if root is not None and f.is_relative_to(root) else str(f)
            names.append(f"{name} ({why})")
        more = f" and {len(self.unreadable) - shown} more" if len(self.unreadable) > shown else ""
        return f"{len(self.unreadable)} of {self.total} {what} unreadable, skipped: {', '.join(names)}{more}"


def _why(e: Exception, path: Path) -> str:
    """The reason of a ``load_rgb`` failure without its path: PIL's own words, shortened."""
    cause = e.__cause__ or e
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    for spelled in (repr(str(path)), str(path)):
        text = text.replace(" " + spelled, "").replace(spelled, "")
    return text.strip(" :")[:80] or type(cause).__name__


def decode_files(files: list[Path], prep: Preprocessing | None = None, what: str = "images") -> DecodedFiles:
    """Decode ``files`` several at a time (the decoder and the resize release the GIL), each brought to ``prep``'s
    crop (without it, the images must share one size). Unreadable files are skipped and listed; none readable is
    one ``ValueError`` naming the first with its reason. The one decoding rule of training, evaluation,
    calibration and parity."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    def one(path: Path) -> np.ndarray | Exception:
        try:
            img = load_rgb(path)
            return img if prep is None else resize_and_crop(img, prep)
        except ValueError as e:
            return e

    images: np.ndarray | None = None
    kept: list[int] = []
    bad: list[tuple[Path, str]] = []
    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        for i, (f, img) in enumerate(zip(files, pool.map(one, files), strict=True)):
            if isinstance(img, Exception):
                bad.append((Path(f), _why(img, Path(f))))
                continue
            if images is None:
                images = np.empty((len(files), *img.shape), dtype=np.uint8)
            elif img.shape != images.shape[1:]:
                first = files[kept[0]]
                raise ValueError(
                    f"image {f} is {img.shape[1]}x{img.shape[0]} but {Path(first).name} is "
                    f"{images.shape[2]}x{images.shape[1]}; pass the variant's preprocessing to bring every image "
                    "to its input size"
                )
            images[len(kept)] = img
            kept.append(i)
    if images is None:
        if not files:
            raise ValueError(f"no {what} to decode")
        raise ValueError(f"none of the {len(files)} {what} could be read ({files[0]}: {bad[0][1]}); check the files")
    if len(kept) < len(files):
        images = images[: len(kept)].copy()  # not a view that keeps the unread rows' memory
    return DecodedFiles(images, kept, bad, len(files))
