"""Training batches made with tensor ops on the training device (CPU or CUDA alike).

The whole image set lives on the device once, as one ``N x H x W x 3`` uint8 tensor. A batch is a single gather
from it: random crop from the zero-padded image and horizontal flip are index arithmetic (no padded copy of the
set, no Python loop per image), then the variant's normalisation runs on the device too. The random draws are
made on the host with NumPy, in the same order as ever (per epoch a permutation, per batch crop rows, crop
columns, flips), so a run is reproducible from its seed on any device and resumes from the saved generator state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from .augment import cutout, draw_cutout, draw_trivial_augment, trivial_augment
from .preprocessing import Preprocessing


@dataclass
class EpochDraws:
    """One epoch's random choices, aligned with the permutation: sample ``order[i]`` is cropped at
    ``(rows[i], cols[i])`` of its padded image and mirrored when ``flips[i]``."""

    order: torch.Tensor  # int64 image indices
    rows: torch.Tensor  # int64 in [0, 2 * pad]
    cols: torch.Tensor  # int64 in [0, 2 * pad]
    flips: torch.Tensor  # bool
    # Only with the matching augmentation (augment.py); None otherwise.
    ta_ops: torch.Tensor | None = None  # int64 TrivialAugment operation per sample
    ta_mags: torch.Tensor | None = None  # float32 signed magnitude per sample
    cut_rows: torch.Tensor | None = None  # int64 Cutout centre row per sample
    cut_cols: torch.Tensor | None = None


def draw_epoch(
    rng: np.random.Generator,
    n: int,
    batch_size: int,
    pad: int,
    flip: bool,
    device: torch.device,
    trivial_augment: bool = False,
    cutout_hw: tuple[int, int] | None = None,
) -> EpochDraws:
    """Draw one epoch's permutation and augmentation and move them to ``device`` in one go (a few small copies).

    The optional draws come after the crop and flip draws of each batch, so a run without them draws exactly the
    same numbers as before they existed."""
    order = rng.permutation(n)
    draws: dict[str, list[np.ndarray]] = {k: [] for k in ("rows", "cols", "flips", "ta_ops", "ta_mags", "cr", "cc")}
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        draws["rows"].append(rng.integers(0, 2 * pad + 1, m))
        draws["cols"].append(rng.integers(0, 2 * pad + 1, m))
        draws["flips"].append(rng.random(m) < 0.5 if flip else np.zeros(m, bool))
        if trivial_augment:
            ops, mags = draw_trivial_augment(rng, m)
            draws["ta_ops"].append(ops)
            draws["ta_mags"].append(mags)
        if cutout_hw is not None:
            r, c = draw_cutout(rng, m, *cutout_hw)
            draws["cr"].append(r)
            draws["cc"].append(c)

    def put(key: str) -> torch.Tensor | None:
        return torch.from_numpy(np.concatenate(draws[key])).to(device) if draws[key] else None

    return EpochDraws(
        order=torch.from_numpy(order).to(device),
        rows=put("rows"),
        cols=put("cols"),
        flips=put("flips"),
        ta_ops=put("ta_ops"),
        ta_mags=put("ta_mags"),
        cut_rows=put("cr"),
        cut_cols=put("cc"),
    )


def crop_flip(
    images: torch.Tensor, idx: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, flips: torch.Tensor, pad: int
) -> torch.Tensor:
    """``images[idx]`` zero-padded by ``pad``, cropped back to H x W at ``(rows, cols)`` and mirrored where
    ``flips``: N x H x W x 3 uint8 in, B x H x W x 3 uint8 out, on the images' device."""
    n, h, w, ch = images.shape
    dev = images.device
    r = rows.to(dev)[:, None] + torch.arange(h, device=dev)[None, :] - pad  # B x H source rows
    x = torch.arange(w, device=dev)[None, :]
    c = cols.to(dev)[:, None] + torch.where(flips.to(dev)[:, None], w - 1 - x, x) - pad  # B x W source columns
    inside = ((r >= 0) & (r < h))[:, :, None] & ((c >= 0) & (c < w))[:, None, :]  # B x H x W
    # One flat pixel index per output pixel and a single index_select: about twice as fast on a CPU as
    # indexing with three broadcast index tensors.
    src = (idx.to(dev)[:, None, None] * h + r.clamp(0, h - 1)[:, :, None]) * w + c.clamp(0, w - 1)[:, None, :]
    out = images.reshape(n * h * w, ch).index_select(0, src.reshape(-1)).view(len(src), h, w, ch)
    return out * inside[..., None].to(out.dtype)  # the padding is zeros, as np.pad's


@cache
def _constants(prep: Preprocessing, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Made once per device: a host-to-GPU copy of a new tensor would wait for the GPU's queue every step.
    return tuple(torch.tensor(v, dtype=torch.float32, device=device) for v in (prep.scale, prep.mean, prep.std))


def normalize_batch(images: torch.Tensor, prep: Preprocessing, channels_last: bool = False) -> torch.Tensor:
    """B x H x W x 3 uint8 RGB -> B x 3 x H x W float32 network input on the same device, computed in float32
    in the order of ``preprocessing.normalize_hwc`` (the exporters' NumPy version), so both give equal values."""
    scale, mean, std = _constants(prep, images.device)
    x = images.flip(-1) if prep.colour_order == "BGR" else images
    x = (x.to(torch.float32) * scale - mean) / std
    x = x.permute(0, 3, 1, 2)  # a permuted NHWC tensor already has the channels-last layout
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def assemble_batch(
    images: torch.Tensor,
    labels: torch.Tensor,
    draws: EpochDraws,
    sl: slice,
    prep: Preprocessing,
    pad: int,
    cutout_size: int = 0,
    channels_last: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The network input and labels of the samples ``sl`` of an epoch's draws: crop and flip, TrivialAugment and
    Cutout where drawn, normalised; every op on the images' device, none of them waiting for it."""
    idx = draws.order[sl]
    batch = crop_flip(images, idx, draws.rows[sl], draws.cols[sl], draws.flips[sl], pad)
    if draws.ta_ops is not None and draws.ta_mags is not None:
        batch = trivial_augment(batch, draws.ta_ops[sl], draws.ta_mags[sl])
    x = normalize_batch(batch, prep, channels_last)
    if draws.cut_rows is not None and draws.cut_cols is not None:
        x = cutout(x, draws.cut_rows[sl], draws.cut_cols[sl], cutout_size)
    return x, labels[idx]


class MemoryBatches:
    """One process's training batches from the in-memory image set: per epoch the run's generator draws the
    permutation and every augmentation of the whole global batch (each process draws the same numbers), and this
    process takes its strided share (``rank`` of ``world``) of each global batch of ``batch_size``."""

    def __init__(
        self, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, batch_size: int, prep: Preprocessing,
        device: torch.device, rank: int = 0, world: int = 1, pad: int = 4, flip: bool = True,
        trivial_augment: bool = False, cutout_size: int = 0, channels_last: bool = False, drop_last: bool = False,
    ) -> None:  # fmt: skip
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)  # gathered from flat
        self.labels = torch.from_numpy(labels).to(device)
        self.rng, self.batch_size, self.prep, self.device = rng, batch_size, prep, device
        self.rank, self.world, self.pad, self.flip = rank, world, pad, flip
        self.trivial_augment, self.cutout_size, self.channels_last = trivial_augment, cutout_size, channels_last
        n = len(labels)
        self.steps_per_epoch = n // batch_size if drop_last else -(-n // batch_size)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's network inputs and labels on the device (``epoch`` is implied by the generator's state)."""
        draws = draw_epoch(
            self.rng, len(self.labels), self.batch_size, self.pad, self.flip, self.device,
            trivial_augment=self.trivial_augment,
            cutout_hw=tuple(self.images.shape[1:3]) if self.cutout_size else None,
        )  # fmt: skip
        for b in range(self.steps_per_epoch):
            # Every process drew the whole batch's augmentation so the shared generator stays in step.
            sl = slice(b * self.batch_size + self.rank, (b + 1) * self.batch_size, self.world)
            yield assemble_batch(self.images, self.labels, draws, sl, self.prep, self.pad, self.cutout_size,
                                 self.channels_last)  # fmt: skip
