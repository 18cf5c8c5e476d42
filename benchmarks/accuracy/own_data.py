"""A folder of "own photos" made from real CIFAR-10 images, as a user's would look: a few classes, every image a
different size and aspect (enlarged from 32x32), JPEG, PNG and WebP mixed, some stored sideways with an EXIF
orientation tag (as phones store them). Used by the fine-tuning measurement and the end-to-end tests.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

FORMATS = (".jpg", ".png", ".webp")
# EXIF orientation -> the transpose that stores an upright photo so that exif_transpose turns it upright again.
STORED_AS = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}


@dataclass
class PhotoFolder:
    root: Path
    classes: list[str]
    counts: dict[str, int]
    sizes: set[tuple[int, int]]  # (width, height) of the stored files
    suffixes: set[str]


def build_photo_folder(
    archive: Path,
    out: Path,
    classes: tuple[str, ...],
    per_class: int,
    split: str = "test",
    skip: int = 0,
    seed: int = 0,
    formats: tuple[str, ...] = FORMATS,
) -> PhotoFolder:
    """Write ``out/<class>/<n><suffix>``: ``per_class`` images of each of ``classes`` from ``split`` of the
    CIFAR-10 JPEG archive (after skipping the first ``skip`` of each class, to cut disjoint folders), each
    enlarged to its own size (short side 40-96 px, aspect 3:4 to 4:3), saved in turn as each of ``formats``;
    every fifth one stored rotated with the EXIF orientation that turns it upright."""
    rng = np.random.default_rng(seed)
    wanted = set(classes)
    seen: dict[str, int] = {c: 0 for c in classes}
    written: dict[str, int] = {c: 0 for c in classes}
    sizes: set[tuple[int, int]] = set()
    suffixes: set[str] = set()
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 4 or parts[-3] != split or parts[-2] not in wanted:
                continue
            cls = parts[-2]
            if written[cls] >= per_class:
                if all(v >= per_class for v in written.values()):
                    break
                continue
            seen[cls] += 1
            if seen[cls] <= skip:
                continue
            img = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")
            n = written[cls]
            short = int(rng.integers(40, 97))
            aspect = float(rng.uniform(0.75, 1.334))
            w, h = (int(short * aspect), short) if aspect >= 1 else (short, int(short / aspect))
            img = img.resize((w, h), Image.Resampling.BICUBIC)
            suffix = formats[n % len(formats)]
            dest = out / cls / f"{n:04d}{suffix}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict = {"quality": 92} if suffix in (".jpg", ".webp") else {}
            if n % 5 == 4:
                orientation = (6, 8, 3)[(n // 5) % 3]
                exif = Image.Exif()
                exif[0x0112] = orientation
                img = img.transpose(STORED_AS[orientation])
                kwargs["exif"] = exif.tobytes()
            img.save(dest, **kwargs)
            sizes.add(img.size)
            suffixes.add(suffix)
            written[cls] += 1
    missing = [c for c, v in written.items() if v < per_class]
    if missing:
        raise ValueError(f"{archive} has fewer than {per_class + skip} {split} images of {', '.join(missing)}")
    return PhotoFolder(out, sorted(classes), written, sizes, suffixes)
