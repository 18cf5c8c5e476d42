"""Real images for int8 calibration and post-export parity: a user folder, or photos the install brings.

Without ``--calib`` the photographs shipped inside scikit-image (a pinned dependency) are used, with
several deterministic crops and flips of each, never random noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from shufflenet.model.preprocessing import (
    Preprocessing,
    decode_files,
    list_images,
    load_rgb,
    resize_and_crop,
    resize_uint8,
)

log = logging.getLogger(__name__)

# Colour photographs in skimage/data (file names as shipped in scikit-image 0.26).
INSTALL_PHOTOS = (
    "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png",
    "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "camera.png", "coins.png", "moon.png",
)  # fmt: skip


class CalibrationError(ValueError):
    pass


@dataclass
class ImageSet:
    """Resized and centre-cropped uint8 RGB images (N x H x W x 3) and where they came from."""

    images: np.ndarray
    kind: str  # "folder" or "install-photos"
    source: str
    skipped: int = 0
    names: list[str] | None = None
    skipped_line: str = ""  # one line naming the unreadable files that were skipped ("" when none)

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "source": self.source, "images": len(self.images), "skipped": self.skipped}

    def first(self, n: int) -> ImageSet:
        """The first ``n`` images (all when there are fewer)."""
        if n >= len(self.images):
            return self
        names = self.names[:n] if self.names is not None else None
        return ImageSet(self.images[:n], self.kind, self.source, self.skipped, names, self.skipped_line)


def install_photo_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def install_photos(prep: Preprocessing, crops_per_photo: int = 8, seed: int = 0) -> ImageSet:
    """Each shipped photo: its standard centre crop, then random crops (30-100 % of the short side) and flips."""
    folder = install_photo_dir()
    rng = np.random.default_rng(seed)
    out, names = [], []
    ch, cw = prep.crop
    for name in INSTALL_PHOTOS:
        path = folder / name
        if not path.is_file():
            continue
        img = load_rgb(path)
        out.append(resize_and_crop(img, prep))
        names.append(name)
        h, w = img.shape[:2]
        for k in range(crops_per_photo - 1):
            side = int(min(h, w) * rng.uniform(0.3, 1.0))
            sh, sw = (side, max(1, int(side * cw / ch))) if ch >= cw else (max(1, int(side * ch / cw)), side)
            sh, sw = min(sh, h), min(sw, w)
            y = int(rng.integers(0, h - sh + 1))
            x = int(rng.integers(0, w - sw + 1))
            crop = resize_uint8(img[y : y + sh, x : x + sw], ch, cw)
            out.append(crop[:, ::-1].copy() if k % 2 else crop)
            names.append(f"{name}#crop{k}")
    if not out:
        raise CalibrationError(f"no sample photos found in {folder}; reinstall scikit-image or pass --calib DIR")
    return ImageSet(np.stack(out), "install-photos", f"scikit-image sample photos ({folder.name}/)", 0, names)


def folder_images(folder: str | Path, prep: Preprocessing, limit: int = 300, seed: int = 0) -> ImageSet:
    """Up to ``limit`` images of ``folder`` (a deterministic random subset), unreadable files skipped, counted and
    named (``decode_files``, the rule of training and evaluation too); an error when none can be used."""
    folder = Path(folder)
    if not folder.exists():
        raise CalibrationError(f"image folder {folder} does not exist; pass a folder of images")
    if not folder.is_dir():
        raise CalibrationError(f"image folder {folder} is a file, not a folder; pass a folder of images")
    files = list_images(folder)
    if not files:
        raise CalibrationError(f"image folder {folder} holds no image files (.jpg/.png/...); add some images")
    if len(files) > limit:
        idx = np.sort(np.random.default_rng(seed).choice(len(files), limit, replace=False))
        files = [files[i] for i in idx]
    try:
        decoded = decode_files(files, prep)
    except ValueError as e:
        raise CalibrationError(f"{e.args[0].replace('images could', f'images in {folder} could')}") from None
    names = [str(files[i].relative_to(folder)) for i in decoded.kept]
    line = decoded.skipped_line("images", folder) if decoded.unreadable else ""
    if line:
        log.warning("%s", line)
    return ImageSet(decoded.images, "folder", str(folder), len(decoded.unreadable), names, line)
