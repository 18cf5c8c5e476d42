"""The official ImageNet training transforms of ShuffleNet v1 (Megvii's ShuffleNet-Series ``train.py``), for
images streamed from a folder one at a time: ``RandomResizedCrop(size)``, ``ColorJitter(brightness=0.4,
contrast=0.4, saturation=0.4)``, ``RandomHorizontalFlip(0.5)``, in that order, on Pillow images.

They follow torchvision's algorithms on Pillow images step for step (torchvision is not a dependency of this
project): the crop box is drawn as ``RandomResizedCrop.get_params`` draws it (ten tries at a random area of 8-100 %
and aspect ratio of 3/4-4/3, else the centre crop clamped to that ratio), cut out and resized bilinearly by Pillow;
the three colour factors are each uniform in [0.6, 1.4] and applied in a random order through Pillow's
``ImageEnhance`` (Brightness, Contrast, Color), as torchvision's ``adjust_*`` functions do for Pillow images.

Every random number comes from the generator passed in. The training stream seeds one per image from
``(seed, epoch, image index)``, so an image's augmentation is the same whatever the number of processes, loader
workers or the batch it lands in: a run on two processes sees exactly the images one process would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCALE = (0.08, 1.0)  # RandomResizedCrop's defaults
RATIO = (3.0 / 4.0, 4.0 / 3.0)
JITTER = 0.4  # brightness, contrast and saturation of the official ColorJitter


@dataclass(frozen=True)
class CropBox:
    top: int
    left: int
    height: int
    width: int


def random_resized_crop_box(
    rng: np.random.Generator, height: int, width: int, scale: tuple[float, float] = SCALE,
    ratio: tuple[float, float] = RATIO,
) -> CropBox:  # fmt: skip
    """torchvision's ``RandomResizedCrop.get_params`` for an image of ``height`` x ``width``."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return CropBox(top, left, h, w)
    in_ratio = width / height  # fallback: the centre crop, clamped to the aspect range
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        w, h = width, height
    return CropBox((height - h) // 2, (width - w) // 2, h, w)


@dataclass(frozen=True)
class JitterDraw:
    order: tuple[int, ...]  # 0 brightness, 1 contrast, 2 saturation (torchvision's randperm; hue is off)
    brightness: float
    contrast: float
    saturation: float


def draw_jitter(rng: np.random.Generator, strength: float = JITTER) -> JitterDraw:
    """torchvision's ``ColorJitter.get_params`` with brightness = contrast = saturation = ``strength``, no hue."""
    order = tuple(int(i) for i in rng.permutation(4) if i != 3)
    lo, hi = max(0.0, 1.0 - strength), 1.0 + strength
    b, c, s = (float(rng.uniform(lo, hi)) for _ in range(3))
    return JitterDraw(order, b, c, s)


def color_jitter(img: object, draw: JitterDraw) -> object:
    """A Pillow RGB image with brightness, contrast and saturation changed by ``draw``'s factors in its order."""
    from PIL import ImageEnhance

    enhancers = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)
    factors = (draw.brightness, draw.contrast, draw.saturation)
    for i in draw.order:
        img = enhancers[i](img).enhance(factors[i])
    return img


def official_train_transform(image: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """H x W x 3 uint8 RGB (decoded, upright) -> ``size`` (h, w) x 3 uint8 RGB: random-resized crop, colour
    jitter, horizontal flip, in the official order and with its parameters."""
    from PIL import Image

    h, w = image.shape[:2]
    box = random_resized_crop_box(rng, h, w)
    img = Image.fromarray(image)
    img = img.crop((box.left, box.top, box.left + box.width, box.top + box.height))
    img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    img = color_jitter(img, draw_jitter(rng))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.array(img, dtype=np.uint8)  # a writable copy (torch.from_numpy takes it as it is)
