"""TrivialAugment and Cutout on batches (model/augment.py): bit-level against Pillow where Pillow defines the
operation, against exact array operations for the geometry, and batch-independent (each image its own draw)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from shufflenet.model.augment import (
    OP_INDEX,
    OPS,
    autocontrast,
    cutout,
    draw_trivial_augment,
    equalize,
    posterize,
    solarize,
    trivial_augment,
)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Random images, some of low contrast and one with a constant channel (the edge cases of the LUT ops)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    x[4:] = x[4:] // 4 + 60
    x[7, :, :, 1] = 77
    x[6, :, :, 2] = np.where(x[6, :, :, 2] > 80, 200, 10)  # two values only
    return x


def _one(images: np.ndarray, name: str, mag: float) -> np.ndarray:
    n = len(images)
    ops = torch.full((n,), OP_INDEX[name])
    return trivial_augment(torch.from_numpy(images), ops, torch.full((n,), mag)).numpy()


def test_lookup_table_ops_are_bit_identical_to_pillow(images: np.ndarray) -> None:
    x = torch.from_numpy(images)
    eq, ac = equalize(x).numpy(), autocontrast(x).numpy()
    for i, img in enumerate(images):
        pil = Image.fromarray(img)
        np.testing.assert_array_equal(eq[i], np.asarray(ImageOps.equalize(pil)))
        np.testing.assert_array_equal(ac[i], np.asarray(ImageOps.autocontrast(pil)))
    for bits in range(1, 9):
        got = posterize(x, torch.full((len(x),), float(bits))).numpy()
        for i, img in enumerate(images):
            np.testing.assert_array_equal(got[i], np.asarray(ImageOps.posterize(Image.fromarray(img), bits)))
    for threshold in (0, 1, 100, 128, 255, 256):
        got = solarize(x, torch.full((len(x),), float(threshold))).numpy()
        for i, img in enumerate(images):
            np.testing.assert_array_equal(got[i], np.asarray(ImageOps.solarize(Image.fromarray(img), threshold)))


def test_geometry_is_exact(images: np.ndarray) -> None:
    np.testing.assert_array_equal(_one(images, "Rotate", 90.0), np.rot90(images, 1, axes=(1, 2)))  # counter-clockwise
    np.testing.assert_array_equal(_one(images, "Rotate", -90.0), np.rot90(images, -1, axes=(1, 2)))
    shifted = np.zeros_like(images)
    shifted[:, :, 5:] = images[:, :, :-5]
    np.testing.assert_array_equal(_one(images, "TranslateX", 5.0), shifted)
    shifted = np.zeros_like(images)
    shifted[:, :-3] = images[:, 3:]
    np.testing.assert_array_equal(_one(images, "TranslateY", -3.0), shifted)
    assert not _one(images, "TranslateX", 32.0).any()  # the wide space's largest shift empties a 32-pixel image
    for name in ("ShearX", "ShearY", "Rotate", "TranslateX", "Brightness", "Color", "Contrast", "Sharpness"):
        np.testing.assert_array_equal(_one(images, name, 0.0), images, err_msg=name)  # magnitude 0: unchanged


@pytest.mark.parametrize("s", [0.3, -0.7, 0.99])
def test_shears_are_pillows_affine_transform(images: np.ndarray, s: float) -> None:
    got_x, got_y = _one(images, "ShearX", s), _one(images, "ShearY", s)
    for i, img in enumerate(images):
        pil = Image.fromarray(img)
        ref_x = pil.transform(pil.size, Image.Transform.AFFINE, (1, s, 0, 0, 1, 0), resample=Image.Resampling.NEAREST)
        ref_y = pil.transform(pil.size, Image.Transform.AFFINE, (1, 0, 0, s, 1, 0), resample=Image.Resampling.NEAREST)
        np.testing.assert_array_equal(got_x[i], np.asarray(ref_x))
        np.testing.assert_array_equal(got_y[i], np.asarray(ref_y))


def test_rotation_matches_pillow_but_for_rounding_at_a_few_pixels(images: np.ndarray) -> None:
    # Pillow's nearest-neighbour affine runs in fixed point; at some angles a few pixels round the other way.
    for angle in (-77.5, 13.5, 30.0, 45.0, 135.0):
        got = _one(images[:1], "Rotate", angle)[0]
        ref = np.asarray(Image.fromarray(images[0]).rotate(angle, resample=Image.Resampling.NEAREST))
        assert (got != ref).any(-1).mean() < 0.03, angle


def test_colour_ops_follow_their_definitions(images: np.ndarray) -> None:
    f = images.astype(np.float32)
    np.testing.assert_array_equal(_one(images, "Brightness", -0.5), (0.5 * f).astype(np.uint8))
    np.testing.assert_array_equal(_one(images, "Brightness", 0.5), np.clip(1.5 * f, 0, 255).astype(np.uint8))
    gray = (0.2989 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]).astype(np.uint8)
    desat = _one(images, "Color", -0.99)  # factor 0.01: nearly the grey image
    assert np.abs(desat.astype(int) - gray[..., None]).max() <= 3
    flat = _one(images, "Contrast", -0.99)  # nearly every pixel at the grey mean
    assert flat.std(axis=(1, 2, 3)).max() < images.std(axis=(1, 2, 3)).min() / 10


def test_each_image_gets_its_own_operation(images: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    ops, mags = draw_trivial_augment(rng, 64)
    assert set(ops.tolist()) == set(range(len(OPS))) and mags.dtype == np.float32
    batch = np.concatenate([images] * 8)
    got = trivial_augment(torch.from_numpy(batch), torch.from_numpy(ops), torch.from_numpy(mags)).numpy()
    for i in range(0, 64, 7):  # the same as transforming the image alone
        alone = trivial_augment(torch.from_numpy(batch[i : i + 1]), torch.from_numpy(ops[i : i + 1]),
                                torch.from_numpy(mags[i : i + 1])).numpy()  # fmt: skip
        np.testing.assert_array_equal(got[i], alone[0])
    assert (got[ops == OP_INDEX["Identity"]] == batch[ops == OP_INDEX["Identity"]]).all()


def test_cutout_zeroes_a_clipped_square() -> None:
    x = torch.ones(3, 3, 32, 32)
    rows, cols = torch.tensor([0, 16, 31]), torch.tensor([0, 10, 31])
    got = cutout(x, rows, cols, 16)
    for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        ref = np.ones((32, 32))
        ref[max(0, r - 8) : r + 8, max(0, c - 8) : c + 8] = 0
        for ch in range(3):
            np.testing.assert_array_equal(got[i, ch].numpy(), ref)
    assert torch.equal(cutout(x, rows, cols, 0), x)
