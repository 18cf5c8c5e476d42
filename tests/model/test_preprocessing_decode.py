"""The Android app's reduced-decode rule on the Python side (model/preprocessing.py); the golden test in
tests/android_demo compares it with the Java one."""

from __future__ import annotations

import numpy as np
import pytest
from shufflenet.model.preprocessing import (
    DECODE_MAX_PIXELS,
    Preprocessing,
    decode_min_short_side,
    decode_sample_size,
    subsample,
)


def test_min_short_side_is_twice_the_largest_of_resize_and_crop() -> None:
    assert decode_min_short_side(Preprocessing(resize=256, crop=(224, 224))) == 512
    assert decode_min_short_side(Preprocessing(resize=32, crop=(32, 32))) == 64
    assert decode_min_short_side(Preprocessing(resize=40, crop=(32, 48))) == 96


@pytest.mark.parametrize(
    ("height", "width", "min_short", "expected"),
    [(3000, 4000, 512, 4), (3000, 4000, 64, 32), (1023, 1023, 512, 1), (1024, 1024, 512, 2), (1500, 30000, 512, 8)],
)
def test_sample_size(height: int, width: int, min_short: int, expected: int) -> None:
    s = decode_sample_size(height, width, min_short)
    assert s == expected
    assert (height // s) * (width // s) <= DECODE_MAX_PIXELS


def test_sample_size_refuses_empty_sizes() -> None:
    with pytest.raises(ValueError, match="positive"):
        decode_sample_size(0, 10, 64)


def test_subsample_keeps_the_centre_pixel_of_each_block() -> None:
    img = np.arange(9 * 10 * 3, dtype=np.int64).reshape(9, 10, 3).astype(np.uint8)
    out = subsample(img, 4)
    assert out.shape == (2, 2, 3)  # floor(9 / 4) x floor(10 / 4)
    assert np.array_equal(out, img[[2, 6]][:, [2, 6]])
    assert subsample(img, 1) is img
    assert subsample(img, 16).shape == (1, 1, 3)  # never empty
