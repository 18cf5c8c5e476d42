"""The official ImageNet training transforms on real photos: torchvision's crop-box rule, the colour jitter's
range and order, determinism from the generator."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from shufflenet.model.preprocessing import load_rgb
from shufflenet.model.stream_transforms import (
    JitterDraw,
    color_jitter,
    draw_jitter,
    official_train_transform,
    random_resized_crop_box,
)


def test_crop_boxes_lie_inside_with_the_official_area_and_aspect() -> None:
    rng = np.random.default_rng(0)
    areas, aspects = [], []
    for _ in range(2000):
        box = random_resized_crop_box(rng, 375, 500)
        assert 0 <= box.top and box.top + box.height <= 375 and 0 <= box.left and box.left + box.width <= 500
        areas.append(box.height * box.width / (375 * 500))
        aspects.append(box.width / box.height)
    # Rounding to whole pixels moves the bounds by a pixel's worth at most.
    assert 0.075 <= min(areas) < 0.12 and 0.9 < max(areas) <= 1.0
    assert 0.74 <= min(aspects) < 0.8 and 1.28 < max(aspects) <= 1.34


@pytest.mark.parametrize(("h", "w", "want"), [(100, 400, (100, 133)), (400, 100, (133, 100)), (300, 320, (300, 320))])
def test_no_box_fits_falls_back_to_the_centre_crop_clamped_to_the_aspect_range(
    h: int, w: int, want: tuple[int, int]
) -> None:
    """torchvision's fallback after ten failed draws (forced here by areas larger than the image)."""
    box = random_resized_crop_box(np.random.default_rng(0), h, w, scale=(2.0, 3.0))
    assert (box.height, box.width) == want
    assert (box.top, box.left) == ((h - want[0]) // 2, (w - want[1]) // 2)


def test_jitter_factors_and_order() -> None:
    rng = np.random.default_rng(1)
    draws = [draw_jitter(rng) for _ in range(500)]
    factors = np.array([[d.brightness, d.contrast, d.saturation] for d in draws])
    assert factors.min() >= 0.6 and factors.max() <= 1.4 and abs(factors.mean() - 1.0) < 0.03
    assert all(sorted(d.order) == [0, 1, 2] for d in draws)
    assert len({d.order for d in draws}) == 6  # every order of the three happens


def test_jitter_applies_pillows_enhancers_in_the_drawn_order(imagenet_samples: Path) -> None:
    img = Image.fromarray(load_rgb(sorted(imagenet_samples.iterdir())[0]))
    assert np.array_equal(np.asarray(color_jitter(img, JitterDraw((0, 1, 2), 1.0, 1.0, 1.0))), np.asarray(img))
    draw = JitterDraw((2, 0, 1), 1.3, 0.7, 0.6)
    b, c, s = ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color
    want = c(b(s(img).enhance(0.6)).enhance(1.3)).enhance(0.7)  # saturation, brightness, contrast
    other = s(c(b(img).enhance(1.3)).enhance(0.7)).enhance(0.6)  # the same factors in another order
    got = np.asarray(color_jitter(img, draw))
    assert np.array_equal(got, np.asarray(want)) and not np.array_equal(got, np.asarray(other))


def test_transform_of_a_real_photo_is_the_input_size_and_reproducible(imagenet_samples: Path) -> None:
    photo = load_rgb(sorted(imagenet_samples.iterdir())[3])
    a = official_train_transform(photo, np.random.default_rng((0, 1, 7)), (224, 224))
    b = official_train_transform(photo, np.random.default_rng((0, 1, 7)), (224, 224))
    c = official_train_transform(photo, np.random.default_rng((0, 2, 7)), (224, 224))
    assert a.shape == (224, 224, 3) and a.dtype == np.uint8 and a.flags.writeable
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # A crop of a photo: its mean colour stays within the jitter's reach of the photo's.
    assert math.isclose(a.mean(), photo.mean(), rel_tol=0.6)
