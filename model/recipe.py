"""The training recipe's automatic settings: batch size and learning rate sized to the data, warm-up long enough
for a small folder. Importable without torch (``shufflenet-train --help`` describes these rules).

A folder of a few hundred photos gives a handful of steps per epoch. The CIFAR-10 recipe (batch 128, peak
learning rate 0.1, one epoch of warm-up) then reaches its peak after three steps and diverges. So:

- batch ``0`` (auto): 128, or less for a small folder (an eighth of its images, a power of two, at least 16), so
  that an epoch is at least about eight steps;
- learning rate ``0`` (auto): ``0.1 * batch / 128`` (linear scaling; the CIFAR-10 recipe at batch 128);
- warm-up: ``--warmup-epochs``, but at least a tenth of the run (up to 100 steps);
- gradients are clipped to a global norm of ``--clip-grad`` (1 by default).
"""

from __future__ import annotations

from dataclasses import replace

from .train_config import TrainConfig

BASE_BATCH = 128
BASE_LR = 0.1  # at BASE_BATCH
MIN_AUTO_BATCH = 16
MAX_MIN_WARMUP_STEPS = 100
RULES = (
    "batch 0 (auto): 128, or for a small folder an eighth of its images (a power of two, at least 16); "
    "lr 0 (auto): 0.1 x batch / 128; warm-up at least a tenth of the run (up to 100 steps)"
)


def auto_batch_size(n_images: int) -> int:
    """128, or the largest power of two <= n/8 (at least 16) for a small set."""
    b = MIN_AUTO_BATCH
    while b * 2 <= min(BASE_BATCH, n_images // 8):
        b *= 2
    return b


def resolve_recipe(cfg: TrainConfig, n_images: int) -> TrainConfig:
    """``cfg`` with its automatic settings (batch 0, lr 0) replaced by values for ``n_images`` training images;
    the checkpoint records these resolved values."""
    batch = cfg.batch_size or auto_batch_size(n_images)
    lr = cfg.lr or round(BASE_LR * batch / BASE_BATCH, 6)
    return replace(cfg, batch_size=batch, lr=lr)


def warmup_steps(warmup_epochs: float, steps_per_epoch: int, total: int) -> int:
    """``warmup_epochs`` of steps, but never less than a tenth of the run (capped at 100 steps)."""
    return max(int(warmup_epochs * steps_per_epoch), min(total // 10, MAX_MIN_WARMUP_STEPS))
