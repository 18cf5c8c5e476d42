"""The training recipe's settings, importable without torch so that `shufflenet-train` can show its defaults and
check its arguments before the heavy libraries load."""

from __future__ import annotations

from dataclasses import dataclass

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    arch: str
    epochs: int = 30
    batch_size: int = 0  # 0: auto, 128 or less for a small folder (recipe.resolve_recipe)
    lr: float = 0.0  # 0: auto, 0.1 x batch / 128 (recipe.resolve_recipe)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_epochs: float = 1.0
    pad: int = 4
    flip: bool = True
    seed: int = 0
    threads: int = 0  # 0: every core
    max_steps: int = 0  # 0: no limit (tests use a few steps)
    channels_last: bool = True
    # Data-parallel processes (gradients all-reduced over gloo). Two single-thread processes beat one
    # two-thread process on a 2-core machine, and they do not collapse when other work shares the cores.
    workers: int = 1
    # Start from these weights (same variant) with a fresh schedule: a second cosine cycle ("warm restart").
    init_from: str = ""
    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda"
    amp: bool = True  # bf16 autocast on CUDA (no effect on the CPU)
    # Stability on small folders and fine-tuning (see recipe.py and finetune.py).
    clip_grad: float = 1.0  # clip the gradients' global norm to this (0: off)
    backbone_lr_scale: float = 0.1  # fine-tuning (--init-from, classifier replaced): backbone lr / classifier lr
    freeze_backbone: bool = False  # fine-tuning: train the new classifier only
