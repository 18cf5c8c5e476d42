"""EXIF orientation in the app's plain Java (ExifOrientation) on real files written by Pillow.

Pillow writes JPEG, PNG (eXIf chunk) and WebP files tagged with each of the 8 orientations; the Java side must
read the same tag and turn the pixels upright exactly as Pillow's ``ImageOps.exif_transpose`` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from android_demo_helpers import run
from PIL import Image, ImageOps

ORIENTATIONS = range(1, 9)


def stored_image() -> Image.Image:
    """48 x 32, four flat quadrants of distinct colours plus a gradient row: every rotation/flip looks different."""
    a = np.zeros((32, 48, 3), dtype=np.uint8)
    a[:16, :24] = (220, 30, 30)
    a[:16, 24:] = (30, 200, 40)
    a[16:, :24] = (40, 40, 210)
    a[16:, 24:] = (230, 220, 40)
    a[0, :, :] = np.linspace(0, 255, 48, dtype=np.uint8)[:, None]
    return Image.fromarray(a)


def save(folder: Path, suffix: str, orientation: int, **kwargs) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = folder / f"o{orientation}{suffix}"
    stored_image().save(path, exif=exif.tobytes(), **kwargs)
    return path


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    folder = tmp_path_factory.mktemp("exif")
    return {
        "jpeg": [save(folder, ".jpg", o, quality=100, subsampling=0) for o in ORIENTATIONS],
        "png": [save(folder, ".png", o) for o in ORIENTATIONS],
        "webp": [save(folder, ".webp", o, lossless=True) for o in ORIENTATIONS],
    }


def pillow_upright(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def java_upright(classes: Path, out: Path, paths: list[Path]) -> dict[str, np.ndarray]:
    out.mkdir(parents=True, exist_ok=True)
    proc = run(["java", "-cp", str(classes), "GoldenHarness", "upright", str(out), *map(str, paths)])
    result = {}
    for line in proc.stdout.splitlines():
        name, w, h = line.split()
        data = np.fromfile(out / f"{name}.upright.bin", dtype=np.uint8)
        result[name] = data.reshape(int(h), int(w), 3)
    return result


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp"])
def test_java_reads_the_orientation_pillow_wrote(java_classes: Path, tagged, kind: str) -> None:
    paths = tagged[kind]
    for path in paths:
        with Image.open(path) as im:
            assert im.getexif().get(0x0112) == int(path.stem[1:])  # Pillow really wrote the tag
    proc = run(["java", "-cp", str(java_classes), "GoldenHarness", "orientation", *map(str, paths)])
    assert [int(v) for v in proc.stdout.split()] == list(ORIENTATIONS)


def test_png_pixels_turn_upright_exactly_as_pillow(java_classes: Path, tagged, tmp_path: Path) -> None:
    got = java_upright(java_classes, tmp_path, tagged["png"])
    for path in tagged["png"]:
        want = pillow_upright(path)
        assert got[path.stem].shape == want.shape, path.name
        assert np.array_equal(got[path.stem], want), path.name


def test_jpeg_pixels_turn_upright_like_pillow(java_classes: Path, tagged, tmp_path: Path) -> None:
    """JPEG decoders differ slightly (javax.imageio here, PIL there), so: close to Pillow's upright image, and much
    closer to it than to any other of the 8 orientations."""
    got = java_upright(java_classes, tmp_path, tagged["jpeg"])
    candidates = [pillow_upright(p) for p in tagged["png"]]  # the 8 lossless upright images of each orientation
    for i, path in enumerate(tagged["jpeg"]):
        image = got[path.stem].astype(np.int16)
        want = pillow_upright(path).astype(np.int16)
        assert image.shape == want.shape, path.name
        assert np.abs(image - want).mean() < 3.0, path.name
        errors = [np.abs(image - c.astype(np.int16)).mean() if c.shape == image.shape else np.inf for c in candidates]
        assert int(np.argmin(errors)) == i, (path.name, errors)
