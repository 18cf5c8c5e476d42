"""What a folder of a user's photos may hold, read by the one listing and decoding rule of training, evaluation,
calibration and parity (model/preprocessing.py, model/datasets.py): 16-bit PNGs, iPhone HEIC files, class
folders named on macOS, empty class folders and unreadable files."""

from __future__ import annotations

import logging
import struct
import unicodedata
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shufflenet.model.datasets import DatasetError, load_image_folder
from shufflenet.model.preprocessing import load_rgb


def _png16(path: Path, samples: np.ndarray) -> None:
    """A 16-bit PNG (grey for H x W, RGB for H x W x 3), written by hand: Pillow cannot write 16-bit colour."""
    h, w = samples.shape[:2]
    colour_type = 2 if samples.ndim == 3 else 0
    raw = b"".join(b"\0" + samples[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


RAMP = (np.arange(4 * 256).reshape(4, 256) * 64).astype(np.uint16)  # 0 .. 65472


def test_a_16_bit_grey_png_is_scaled_to_8_bits_not_clipped_white(tmp_path: Path) -> None:
    _png16(tmp_path / "g.png", RAMP)
    assert Image.open(tmp_path / "g.png").mode == "I;16"  # what Pillow makes of it: clipped by convert("RGB")
    img = load_rgb(tmp_path / "g.png")
    assert img.shape == (4, 256, 3) and img.dtype == np.uint8
    expected = np.round(RAMP / 257).astype(np.uint8)
    assert np.array_equal(img[..., 0], expected) and np.array_equal(img[..., 2], expected)
    assert abs(img.mean() - 127.4) < 0.5  # not 254.5


def test_a_16_bit_rgb_png_keeps_its_colours(tmp_path: Path) -> None:
    """Pillow itself keeps the high byte of 16-bit colour; the grey rule above must not change that."""
    rgb = np.stack([RAMP, RAMP // 2, 65535 - RAMP], -1).astype(np.uint16)
    _png16(tmp_path / "c.png", rgb)
    img = load_rgb(tmp_path / "c.png").astype(int)
    assert np.abs(img - np.round(rgb / 257)).max() <= 1


def _smooth(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (h + w) + 60], -1).astype(np.uint8)


def test_heic_photos_are_decoded(tmp_path: Path) -> None:
    """What an iPhone writes: decoded through pillow-heif (a pinned dependency), close to the pixels encoded."""
    pillow_heif = pytest.importorskip("pillow_heif")
    photo = _smooth(48, 64)
    pillow_heif.from_pillow(Image.fromarray(photo)).save(tmp_path / "IMG_0001.HEIC", quality=95)
    img = load_rgb(tmp_path / "IMG_0001.HEIC")
    assert img.shape == photo.shape and np.abs(img.astype(int) - photo).mean() < 3


def _photos(root: Path, cls: str, n: int) -> None:
    (root / cls).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(_smooth(32 + i, 40)).save(root / cls / f"{i}.png")


def test_an_empty_class_folder_is_refused_naming_it(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _photos(root, "cat", 2)
    _photos(root, "dog", 2)
    (root / "elk").mkdir()
    with pytest.raises(DatasetError, match=r"class folder .*elk is empty") as e:
        load_image_folder(root, (32, 32), tmp_path / "cache")
    assert "\n" not in str(e.value)


def test_a_class_folder_of_files_the_loader_skips_names_them(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _photos(root, "cat", 2)
    (root / "dog").mkdir()
    (root / "dog" / "clip.MOV").write_bytes(b"\0\0\0\x18ftypqt  ")
    with pytest.raises(DatasetError, match=r"class folder .*dog holds no image files .*clip\.MOV"):
        load_image_folder(root, (32, 32), tmp_path / "cache")


def test_a_class_of_heic_photos_only_is_a_class(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    root = tmp_path / "photos"
    _photos(root, "cat", 2)
    (root / "dog").mkdir()
    pillow_heif.from_pillow(Image.fromarray(_smooth(40, 40))).save(root / "dog" / "IMG_0002.HEIC")
    data = load_image_folder(root, (32, 32), tmp_path / "cache")
    assert data.classes == ["cat", "dog"] and data.labels.tolist() == [0, 0, 1]


def test_class_folders_named_on_macos_compare_equal_to_typed_names(tmp_path: Path) -> None:
    """macOS stores names decomposed (NFD): 'café' as 'cafe' + a combining accent; a labels file has it composed."""
    root = tmp_path / "photos"
    _photos(root, unicodedata.normalize("NFD", "café"), 1)
    _photos(root, "thé", 1)
    data = load_image_folder(root, (32, 32), tmp_path / "cache")
    assert data.classes == ["café", "thé"]
    assert all(unicodedata.is_normalized("NFC", c) for c in data.classes)


def test_unreadable_images_are_skipped_counted_and_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "photos"
    _photos(root, "cat", 3)
    _photos(root, "dog", 2)
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with caplog.at_level(logging.WARNING):
        data = load_image_folder(root, (32, 32), tmp_path / "cache")
    assert data.labels.tolist() == [0, 0, 0, 1, 1] and len(data.images) == 5
    assert "1 of 6 images" in caplog.text and "dog/broken.jpg" in caplog.text
    again = load_image_folder(root, (32, 32), tmp_path / "cache")  # the cache keeps which files were read
    assert again.labels.tolist() == data.labels.tolist() and np.array_equal(again.images, data.images)


def test_a_class_whose_every_image_is_unreadable_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _photos(root, "cat", 2)
    (root / "dog").mkdir()
    (root / "dog" / "a.jpg").write_bytes(b"junk")
    with pytest.raises(DatasetError, match=r"every image of class folder .*dog is unreadable"):
        load_image_folder(root, (32, 32), tmp_path / "cache")


def test_decode_files_refuses_when_nothing_is_readable(tmp_path: Path) -> None:
    from shufflenet.model.preprocessing import decode_files

    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"none of the 1 images could be read"):
        decode_files([tmp_path / "a.png"], None)


def test_an_unwritable_cache_is_a_warning_not_a_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "photos"
    _photos(root, "cat", 1)
    _photos(root, "dog", 1)
    cache = tmp_path / "a-file"
    cache.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        data = load_image_folder(root, (32, 32), cache / "cache")
    assert len(data) == 2 and "going on without it" in caplog.text
