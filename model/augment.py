"""Batched, on-device data augmentations beyond crop and flip: TrivialAugment (wide) and Cutout.

Both work on a whole training batch at once with tensor ops only (no Python loop per image, no host
synchronisation), so they cost next to nothing on a GPU and run the same code on a CPU. The random choices are
drawn on the host with the run's NumPy generator (``batches.draw_epoch``), which keeps runs reproducible from their
seed and resumable.

TrivialAugment (Müller & Hutter, ICCV 2021), the wide search space as in torchvision's ``TrivialAugmentWide``:
per image one operation out of 14, uniformly, at one of 31 magnitudes, uniformly, with a random sign where the
operation has one. Geometric operations use nearest-neighbour sampling with zeros outside the image; the colour
operations follow torchvision's uint8 tensor definitions; Posterize, Solarize, AutoContrast and Equalize are
bit-identical to Pillow's ``ImageOps`` (tested). Every operation is computed for the whole batch and each image
takes its own, which keeps every shape fixed (cheap on a GPU, fine for CUDA graphs).

Cutout (DeVries & Taylor, 2017): a ``size`` x ``size`` square, centred anywhere in the image (clipped at its edges),
set to zero in the normalised input, i.e. to the data set's mean colour.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

# (name, magnitudes over the 31 bins, signed); the order fixes each operation's index in the draws.
NUM_BINS = 31
OPS: tuple[tuple[str, np.ndarray, bool], ...] = (
    ("Identity", np.zeros(NUM_BINS), False),
    ("ShearX", np.linspace(0.0, 0.99, NUM_BINS), True),
    ("ShearY", np.linspace(0.0, 0.99, NUM_BINS), True),
    ("TranslateX", np.linspace(0.0, 32.0, NUM_BINS), True),
    ("TranslateY", np.linspace(0.0, 32.0, NUM_BINS), True),
    ("Rotate", np.linspace(0.0, 135.0, NUM_BINS), True),
    ("Brightness", np.linspace(0.0, 0.99, NUM_BINS), True),
    ("Color", np.linspace(0.0, 0.99, NUM_BINS), True),
    ("Contrast", np.linspace(0.0, 0.99, NUM_BINS), True),
    ("Sharpness", np.linspace(0.0, 0.99, NUM_BINS), True),
    ("Posterize", 8 - np.round(np.arange(NUM_BINS) / ((NUM_BINS - 1) / 6)), False),
    ("Solarize", np.linspace(255.0, 0.0, NUM_BINS), False),
    ("AutoContrast", np.zeros(NUM_BINS), False),
    ("Equalize", np.zeros(NUM_BINS), False),
)
OP_INDEX = {name: i for i, (name, _, _) in enumerate(OPS)}
_MAGNITUDES = np.stack([m for _, m, _ in OPS])  # 14 x 31
_SIGNED = np.array([s for _, _, s in OPS])


def draw_trivial_augment(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image an operation index and its signed magnitude (float32), drawn with the run's generator."""
    ops = rng.integers(0, len(OPS), m)
    bins = rng.integers(0, NUM_BINS, m)
    signs = np.where(rng.random(m) < 0.5, -1.0, 1.0)
    mags = _MAGNITUDES[ops, bins] * np.where(_SIGNED[ops], signs, 1.0)
    return ops.astype(np.int64), mags.astype(np.float32)


def draw_cutout(rng: np.random.Generator, m: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image the centre row and column of its Cutout square, anywhere in the image."""
    return rng.integers(0, h, m), rng.integers(0, w, m)


# ---------------------------------------------------------------------------------------------------------------
# Geometry: one inverse affine map per image (the identity for non-geometric operations), one gather.


def _inverse_maps(ops: torch.Tensor, mags: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """B x 2 x 3 maps from output pixel (x, y, 1) to source pixel (x, y), pixel-centre coordinates."""
    b = len(ops)
    dev = ops.device
    # The identity maps made on the device (item assignment of a Python number would copy it there first).
    m = torch.eye(2, 3, dtype=torch.float64, device=dev).repeat(b, 1, 1)
    mags = mags.double()  # coordinates in float64, as Pillow computes them: the same nearest pixel at near-ties
    zero = torch.zeros_like(mags)
    # Shears about the image's top-left corner (torchvision's center=[0, 0], Pillow's affine transform): output
    # pixel (x, y) takes the source column x + s * (y + 0.5), the corner lying half a pixel before pixel 0's centre.
    shear_x, shear_y = ops == OP_INDEX["ShearX"], ops == OP_INDEX["ShearY"]
    m[:, 0, 1] = torch.where(shear_x, mags, zero)
    m[:, 1, 0] = torch.where(shear_y, mags, zero)
    # Translations move the content by whole pixels, right / down for positive magnitudes.
    m[:, 0, 2] = torch.where(ops == OP_INDEX["TranslateX"], -mags.trunc(), torch.where(shear_x, 0.5 * mags, zero))
    m[:, 1, 2] = torch.where(ops == OP_INDEX["TranslateY"], -mags.trunc(), torch.where(shear_y, 0.5 * mags, zero))
    # Rotation about the image centre, counter-clockwise on screen for positive angles (rows grow downwards).
    rot = ops == OP_INDEX["Rotate"]
    theta = torch.where(rot, mags, zero) * (math.pi / 180)
    c, s = torch.cos(theta), torch.sin(theta)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    r = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # B x 2 x 2
    t = torch.stack([cx - c * cx + s * cy, cy - s * cx - c * cy], -1)
    m = torch.where(rot[:, None, None], torch.cat([r, t[:, :, None]], -1), m)
    return m


def _warp(images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour warp of B x H x W x C uint8 images by per-image inverse maps; zeros outside."""
    b, h, w, ch = images.shape
    dev = images.device
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64, device=dev), torch.arange(w, dtype=torch.float64, device=dev),
        indexing="ij",
    )  # fmt: skip
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(1, h * w, 3)
    src = torch.matmul(pts, maps.transpose(1, 2))  # B x HW x 2 (x, y)
    sx = torch.floor(src[..., 0] + 0.5).to(torch.int64)
    sy = torch.floor(src[..., 1] + 0.5).to(torch.int64)
    inside = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
    flat = (torch.arange(b, device=dev)[:, None] * h + sy.clamp(0, h - 1)) * w + sx.clamp(0, w - 1)
    out = images.reshape(b * h * w, ch).index_select(0, flat.reshape(-1)).view(b, h, w, ch)
    return out * inside.view(b, h, w, 1).to(out.dtype)


# ---------------------------------------------------------------------------------------------------------------
# Colour: torchvision's uint8 definitions, per-image factors.


def _blend(img1: torch.Tensor, img2: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """torchvision's _blend: ratio * img1 + (1 - ratio) * img2, clamped, truncated to uint8."""
    r = ratio.view(-1, 1, 1, 1)
    return (r * img1.float() + (1 - r) * img2.float()).clamp(0, 255).to(torch.uint8)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    """B x H x W x 3 uint8 -> B x H x W x 1 uint8 (ITU-R 601-2 luma, truncated as torchvision)."""
    f = x.float()
    return (0.2989 * f[..., 0:1] + 0.587 * f[..., 1:2] + 0.114 * f[..., 2:3]).to(torch.uint8)


@cache
def _smoothing_kernel(device: torch.device) -> torch.Tensor:
    # Made once per device: a new tensor from host data is a host-to-GPU copy that waits for the GPU every step.
    return torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], device=device) / 13.0


def _sharpness_degenerate(x: torch.Tensor) -> torch.Tensor:
    """The smoothed image torchvision blends with for Sharpness: 3 x 3 kernel, borders kept."""
    b, h, w, ch = x.shape
    k = _smoothing_kernel(x.device)
    f = x.permute(0, 3, 1, 2).float()
    blurred = F.conv2d(f.reshape(b * ch, 1, h, w), k.view(1, 1, 3, 3)).round().view(b, ch, h - 2, w - 2)
    out = f.clone()
    out[:, :, 1:-1, 1:-1] = blurred
    return out.permute(0, 2, 3, 1).to(torch.uint8)


def _luts(lut: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply per-image, per-channel lookup tables (B x C x 256, integer) to B x H x W x C uint8 images."""
    b, h, w, ch = x.shape
    offsets = (torch.arange(b * ch, device=x.device) * 256).view(b, 1, 1, ch)
    flat = x.to(torch.int64) + offsets
    return lut.reshape(-1).index_select(0, flat.reshape(-1)).view(b, h, w, ch).to(torch.uint8)


def _histograms(x: torch.Tensor) -> torch.Tensor:
    """B x C x 256 int64 histograms of B x H x W x C uint8 images."""
    b, h, w, ch = x.shape
    idx = x.permute(0, 3, 1, 2).reshape(b * ch, h * w).to(torch.int64)
    idx = idx + (torch.arange(b * ch, device=x.device) * 256)[:, None]
    hist = torch.zeros(b * ch * 256, dtype=torch.int64, device=x.device)
    hist.index_add_(0, idx.reshape(-1), torch.ones(idx.numel(), dtype=torch.int64, device=x.device))
    return hist.view(b, ch, 256)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Per channel, stretch [min, max] to [0, 255] with Pillow's lookup table (ImageOps.autocontrast, cutoff 0)."""
    b, h, w, ch = x.shape
    flat = x.reshape(b, h * w, ch)
    lo = flat.amin(1).to(torch.float64)  # B x C
    hi = flat.amax(1).to(torch.float64)
    scale = torch.where(hi > lo, 255.0 / (hi - lo).clamp(min=1), torch.ones_like(lo))
    offset = torch.where(hi > lo, -lo * scale, torch.zeros_like(lo))
    i = torch.arange(256, dtype=torch.float64, device=x.device)
    lut = (i[None, None, :] * scale[..., None] + offset[..., None]).trunc().clamp(0, 255).to(torch.int64)
    return _luts(lut, x)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Per channel histogram equalisation with Pillow's lookup table (ImageOps.equalize)."""
    hist = _histograms(x)  # B x C x 256
    # Pillow: step = (sum of the histogram - its last non-zero bin) // 255; lut[i] = (step // 2 + cumsum[i-1]) // step
    last = (hist > 0).to(torch.int64) * torch.arange(256, device=x.device)
    last_count = hist.gather(-1, last.argmax(-1, keepdim=True)).squeeze(-1)
    step = (hist.sum(-1) - last_count) // 255
    before = torch.cumsum(hist, -1) - hist  # counts strictly below each value
    safe = step.clamp(min=1)[..., None]
    lut = ((safe // 2 + before) // safe).clamp(0, 255)
    lut = torch.where(step[..., None] > 0, lut, torch.arange(256, device=x.device).expand_as(lut))
    return _luts(lut, x)


def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Keep the ``bits`` high bits of every channel (per-image bits, 0-8)."""
    mask = (-(1 << (8 - bits.to(torch.int64)))).to(torch.int64) & 0xFF
    return (x.to(torch.int64) & mask.view(-1, 1, 1, 1)).to(torch.uint8)


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Invert every channel value at or above ``threshold`` (per image), as Pillow's ImageOps.solarize."""
    return torch.where(x.float() >= threshold.view(-1, 1, 1, 1), 255 - x, x)


def trivial_augment(images: torch.Tensor, ops: torch.Tensor, mags: torch.Tensor) -> torch.Tensor:
    """B x H x W x 3 uint8 -> the same, image i transformed by operation ``ops[i]`` at magnitude ``mags[i]``."""
    _, h, w, _ = images.shape
    ops = ops.to(images.device)
    mags = mags.to(images.device, torch.float32)
    x = _warp(images, _inverse_maps(ops, mags, h, w))  # geometric ops; every other image comes back unchanged
    factor = 1.0 + mags
    gray = _grayscale(x)
    mean = gray.float().mean(dim=(1, 2, 3), keepdim=True)
    candidates = {
        "Brightness": _blend(x, torch.zeros_like(x), factor),
        "Color": _blend(x, gray.expand_as(x), factor),
        "Contrast": _blend(x, mean.expand(x.shape), factor),
        "Sharpness": _blend(x, _sharpness_degenerate(x), factor),
        "Posterize": posterize(x, mags.clamp(0, 8)),
        "Solarize": solarize(x, mags),
        "AutoContrast": autocontrast(x),
        "Equalize": equalize(x),
    }
    for name, out in candidates.items():
        x = torch.where((ops == OP_INDEX[name]).view(-1, 1, 1, 1), out, x)
    return x


def cutout(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, size: int) -> torch.Tensor:
    """Zero a ``size`` x ``size`` square centred at (rows[i], cols[i]) of each B x C x H x W normalised input."""
    if size <= 0:
        return x
    _, _, h, w = x.shape
    dev = x.device
    top = rows.to(dev)[:, None] - size // 2
    left = cols.to(dev)[:, None] - size // 2
    ys = torch.arange(h, device=dev)[None, :]
    xs = torch.arange(w, device=dev)[None, :]
    in_rows = (ys >= top) & (ys < top + size)  # B x H
    in_cols = (xs >= left) & (xs < left + size)  # B x W
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])  # B x H x W
    return x * keep[:, None].to(x.dtype)
