"""The training recipe's settings, importable without torch so that `shufflenet-train` can show its defaults and
check its arguments before the heavy libraries load."""

from __future__ import annotations

from dataclasses import dataclass

DEVICES = ("auto", "cpu", "cuda")
AUGMENTS = ("none", "trivialaugment")  # on top of crop + flip (model/augment.py)
SCHEDULES = ("cosine", "linear")  # after the warm-up: cosine to 0, or linear to 0 (the official ImageNet recipe)
DATA_MODES = ("auto", "memory", "stream")  # the decoded array in memory, or decoding on the fly (streaming.py)


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
    # torch.compile the training step (CUDA graphs on CUDA) with the fused optimiser; drops each epoch's last
    # partial batch so that every step has one shape (one graph).
    compile: bool = False
    compile_backend: str = "inductor"  # tests on the CPU use "aot_eager" (inductor's CPU compile takes minutes)
    augment: str = "none"  # "trivialaugment": TrivialAugment (wide), per image, on the device
    cutout: int = 0  # side of the Cutout square in pixels (0: none)
    ema: float = 0.0  # decay of the weights' moving average per step (0: none), e.g. 0.999
    eval_every: int = 1  # test pass every N epochs (and after the last)
    # Seconds the whole run may train (0: no limit): after the third epoch the epoch count is lowered, if needed,
    # so that the full learning-rate schedule ends inside the budget (a run cut short mid-schedule tests worse).
    time_budget: float = 0.0
    # Stability on small folders and fine-tuning (see recipe.py and finetune.py).
    clip_grad: float = 1.0  # clip the gradients' global norm to this (0: off)
    backbone_lr_scale: float = 0.1  # fine-tuning (--init-from, classifier replaced): backbone lr / classifier lr
    freeze_backbone: bool = False  # fine-tuning: train the new classifier only
    # The official ImageNet recipe's parts (recipe.PRESETS), each usable on its own.
    recipe: str = ""  # the preset the settings came from ("imagenet-official"), "" for none
    schedule: str = "cosine"  # learning rate after the warm-up: "cosine" or "linear" decay to 0 per step
    nesterov: bool = True  # SGD with Nesterov momentum (the official ImageNet recipe: plain momentum)
    total_steps: int = 0  # steps of the schedule (0: epochs x steps per epoch); the run stops there
    bn_recalibration: bool = False  # after the last step, one epoch that sets every BatchNorm's statistics to
    # their exact average over it, weights frozen (the official "bn_process"); that is the checkpoint kept
    data_mode: str = "auto"  # "memory", "stream" or "auto" (by the folder's decoded size, streaming.py)
    # Data-parallel runs (torchrun / --workers): what each process computes the same either way.
    sync_bn: bool = False  # BatchNorm statistics over the global batch (SyncBatchNorm) instead of each process's
    loader_workers: int = -1  # decoding processes per training process when streaming (-1: the cores shared out)
    dist_timeout: float = 1800.0  # seconds a collective waits for the other processes before the run fails
