"""Image folders of photos of every size: each image goes through the variant's own preprocessing (EXIF
orientation, resize of the short side, centre crop), whatever its format, as export, evaluation and the app do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from shufflenet.model.datasets import load_image_folder
from shufflenet.model.preprocessing import resize_and_crop
from shufflenet.model.registry import get_variant

CIFAR = get_variant("shufflenet_v1_g3_0.25x_cifar").preprocessing
IMAGENET = get_variant("shufflenet_v1_g3_0.5x").preprocessing


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth colour gradients plus a little noise: survives JPEG/WebP, differs in every direction."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    img = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (h + w) + 60], -1) + rng.normal(0, 4, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _folder(root: Path) -> dict[str, np.ndarray]:
    """Four classes of mixed sizes and formats; one photo stored sideways with EXIF orientation 6 (as phones
    do), one with orientation 3. Returns the upright pixels of every lossless file."""
    upright = {}
    a = _photo(48, 64, 0)
    (root / "cat").mkdir(parents=True)
    Image.fromarray(a).save(root / "cat" / "a.png")
    upright["cat/a.png"] = a
    Image.fromarray(_photo(32, 32, 1)).save(root / "cat" / "b.jpg", quality=95)
    (root / "dog").mkdir()
    Image.fromarray(_photo(60, 100, 2)).save(root / "dog" / "c.webp", quality=90)
    side = _photo(90, 50, 3)  # upright it is 50 wide, 90 high; stored rotated, 90 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    (root / "elk").mkdir()
    Image.fromarray(side).transpose(Image.Transpose.ROTATE_90).save(root / "elk" / "d.png", exif=exif.tobytes())
    upright["elk/d.png"] = side
    flipped = _photo(40, 70, 4)
    exif[0x0112] = 3
    (root / "jet").mkdir()
    Image.fromarray(flipped).transpose(Image.Transpose.ROTATE_180).save(root / "jet" / "e.png", exif=exif.tobytes())
    upright["jet/e.png"] = flipped
    return upright


def test_every_size_and_format_goes_through_the_variants_preprocessing(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    upright = _folder(root)
    data = load_image_folder(root, CIFAR, tmp_path / "cache")
    assert data.classes == ["cat", "dog", "elk", "jet"]
    assert data.images.shape == (5, 32, 32, 3) and data.labels.tolist() == [0, 0, 1, 2, 3]
    # Lossless files: exactly the upright photo, resized and centre-cropped as export and eval do.
    assert np.array_equal(data.images[0], resize_and_crop(upright["cat/a.png"], CIFAR))
    assert np.array_equal(data.images[3], resize_and_crop(upright["elk/d.png"], CIFAR))  # EXIF 6 turned upright
    assert np.array_equal(data.images[4], resize_and_crop(upright["jet/e.png"], CIFAR))  # EXIF 3 turned upright
    # The ImageNet variants' own preprocessing (short side 256, centre crop 224) from the same files.
    big = load_image_folder(root, IMAGENET, tmp_path / "cache")
    assert big.images.shape == (5, 224, 224, 3)
    assert np.array_equal(big.images[3], resize_and_crop(upright["elk/d.png"], IMAGENET))
    # The cache is keyed by the geometry too: the small set is read back as it was made.
    again = load_image_folder(root, CIFAR, tmp_path / "cache")
    assert np.array_equal(again.images, data.images)
    assert len(list((tmp_path / "cache").glob("images-*.npz"))) == 2


def test_train_help_says_what_happens_to_sizes_and_every_default() -> None:
    out = subprocess.run([sys.executable, "-m", "shufflenet.model.cli_train", "--help"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    flat = " ".join(out.split())
    assert "any size" in flat and "resized" in flat and "centre-cropped" in flat and "EXIF" in flat
    for default in ("(default: runs/train/last.pt)", "(default: 30)", "(default: 0.0)", "(default: 0)",
                    "(default: 1.0)", "auto (0.1 x batch / 128)"):  # fmt: skip
        assert default in flat, default
