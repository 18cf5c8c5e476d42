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

from dataclasses import dataclass, replace
from typing import Any

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


def warmup_steps(warmup_epochs: float, steps_per_epoch: int, total: int, schedule: str = "cosine") -> int:
    """``warmup_epochs`` of steps, but for the cosine schedule never less than a tenth of the run (capped at 100
    steps: the small-folder guard); the linear schedule of the official recipe has exactly what is asked."""
    asked = int(warmup_epochs * steps_per_epoch)
    return asked if schedule == "linear" else max(asked, min(total // 10, MAX_MIN_WARMUP_STEPS))


# The official ImageNet recipe of ShuffleNet v1 (Megvii's ShuffleNet-Series, ShuffleNetV1/train.py), at its own
# batch; ``preset`` scales it to another global batch by the linear rule (learning rate in proportion to the batch,
# steps in inverse proportion: the same number of epochs).
@dataclass(frozen=True)
class Preset:
    name: str
    batch_size: int  # the global batch the figures below belong to
    lr: float
    total_steps: int
    settings: dict[str, Any]  # every other TrainConfig field the recipe fixes
    summary: str


IMAGENET_OFFICIAL = Preset(
    name="imagenet-official",
    batch_size=1024,
    lr=0.5,
    total_steps=300_000,
    settings=dict(
        momentum=0.9,
        nesterov=False,
        weight_decay=4e-5,
        label_smoothing=0.1,
        schedule="linear",
        warmup_epochs=0.0,
        bn_recalibration=True,
        data_mode="stream",
        clip_grad=0.0,
        augment="none",
        cutout=0,
        ema=0.0,
    ),
    summary="batch 1024, SGD momentum 0.9 (not Nesterov), lr 0.5 decayed linearly per step to 0 at 300,000 steps "
    "(about 240 ImageNet epochs), weight decay 4e-5 on conv/linear weights, label smoothing 0.1, random-resized "
    "crop + colour jitter 0.4 + flip, then one epoch of BatchNorm statistics; other global batches scale lr and "
    "steps linearly",
)
PRESETS = {p.name: p for p in (IMAGENET_OFFICIAL,)}


def preset(name: str, batch_size: int = 0) -> dict[str, Any]:
    """The TrainConfig settings of preset ``name`` for a global batch of ``batch_size`` (0: the preset's own):
    learning rate ``lr * batch / preset batch``, steps ``total_steps * preset batch / batch``."""
    if name not in PRESETS:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    batch = batch_size or p.batch_size
    return {
        **p.settings,
        "recipe": p.name,
        "batch_size": batch,
        "lr": round(p.lr * batch / p.batch_size, 10),
        "total_steps": max(1, round(p.total_steps * p.batch_size / batch)),
    }
