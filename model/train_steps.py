"""The pieces of one training step and one test pass: the learning-rate schedule, the optimiser and its in-place
learning rate, the (optionally compiled) forward pass and loss, this process's training batches (in memory or
streamed) and the test pass over its share of the test images. ``training`` chains them into epochs and runs."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .batches import MemoryBatches, normalize_batch
from .datasets import ImageArray
from .preprocessing import Preprocessing
from .streaming import FolderIndex, StreamBatches, default_loader_workers
from .train_config import TrainConfig

TrainData = ImageArray | FolderIndex


def to_input_batch(images: np.ndarray, prep: Preprocessing, channels_last: bool = False) -> torch.Tensor:
    """N x H x W x 3 uint8 RGB -> N x 3 x H x W float32 with the variant's colour order and normalisation."""
    return normalize_batch(torch.from_numpy(np.ascontiguousarray(images)), prep, channels_last)


def lr_at(step: int, total: int, warmup: int, base: float, schedule: str = "cosine") -> float:
    """The learning rate of step ``step`` (from 0) of ``total``: a linear warm-up over ``warmup`` steps, then
    cosine decay to 0 at ``total``, or (``linear``) linear decay to 0 at ``total``. The linear rule is the
    official recipe's ``LambdaLR(lambda s: 1 - s / total)`` stepped before each optimiser step: step i (from 0)
    uses ``base * (1 - (i + 1) / total)``."""
    if step < warmup:
        return base * (step + 1) / warmup
    if schedule == "linear":
        return base * max(0.0, 1.0 - (step + 1 - warmup) / max(1, total - warmup))
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def autocast_for(device: torch.device, amp: bool) -> torch.autocast:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


@torch.no_grad()
def logits_of(
    model: nn.Module, images: torch.Tensor, prep: Preprocessing, batch_size: int, channels_last: bool, amp: bool
) -> torch.Tensor:
    """Eval-mode logits (float32, on the images' device) of N x H x W x 3 uint8 images."""
    model.eval()
    device = images.device
    out = []
    for i in range(0, len(images), batch_size):
        x = normalize_batch(images[i : i + batch_size], prep, channels_last)
        with autocast_for(device, amp):
            out.append(model(x).float())
    return torch.cat(out) if out else torch.zeros(0, device=device)


def evaluate_array(
    model: nn.Module,
    data: ImageArray,
    prep: Preprocessing,
    batch_size: int = 500,
    channels_last: bool = False,
    device: str | torch.device = "cpu",
    amp: bool = False,
) -> tuple[float, np.ndarray]:
    """Top-1 accuracy and the logits of every image (eval mode), computed on ``device`` (the model's)."""
    dev = torch.device(device)
    logits = logits_of(model, torch.from_numpy(data.images).to(dev), prep, batch_size, channels_last, amp).cpu().numpy()
    return float((logits.argmax(1) == data.labels).mean()), logits


def training_batches(
    cfg: TrainConfig, data: TrainData, rng: np.random.Generator, prep: Preprocessing, device: torch.device,
    ctx: distributed.DistContext,
) -> MemoryBatches | DeviceStream:  # fmt: skip
    """This process's training batches: from the in-memory array, or streamed from the folder."""
    if isinstance(data, FolderIndex):
        workers = cfg.loader_workers if cfg.loader_workers >= 0 else default_loader_workers(ctx.local_world)
        stream = StreamBatches(data, prep, cfg.batch_size, ctx.rank, ctx.world, cfg.seed, workers,
                               drop_last=cfg.compile, pin_memory=device.type == "cuda")  # fmt: skip
        return DeviceStream(stream, prep, device, cfg.channels_last)
    return MemoryBatches(
        data.images, data.labels, rng, cfg.batch_size, prep, device, ctx.rank, ctx.world, cfg.pad, cfg.flip,
        trivial_augment=cfg.augment == "trivialaugment", cutout_size=cfg.cutout, channels_last=cfg.channels_last,
        drop_last=cfg.compile,
    )  # fmt: skip


class DeviceStream:
    """A stream's uint8 batches moved to the training device and normalised there, as the in-memory ones are."""

    def __init__(self, stream: StreamBatches, prep: Preprocessing, device: torch.device, channels_last: bool) -> None:
        self.stream, self.prep, self.device, self.channels_last = stream, prep, device, channels_last
        self.steps_per_epoch = stream.steps_per_epoch

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in self.stream.epoch(epoch):
            x = normalize_batch(images.to(self.device, non_blocking=True), self.prep, self.channels_last)
            yield x, labels.to(self.device, non_blocking=True)


def test_pass(
    cfg: TrainConfig, data: TrainData | None, prep: Preprocessing, device: torch.device, ctx: distributed.DistContext
) -> Callable[[nn.Module, bool], float] | None:
    """The test pass: top-1 of a model over every test image, each process taking its share; None without data."""
    if data is None:
        return None
    if isinstance(data, FolderIndex):
        workers = cfg.loader_workers if cfg.loader_workers >= 0 else default_loader_workers(ctx.local_world)
        stream = StreamBatches(data, prep, 250, ctx.rank, ctx.world, cfg.seed, workers, train=False,
                               pin_memory=device.type == "cuda")  # fmt: skip
        batches = DeviceStream(stream, prep, device, cfg.channels_last)

        def streamed(model: nn.Module, amp: bool) -> float:
            model.eval()
            hits = count = 0.0
            with torch.no_grad():
                for x, y in batches.epoch(0):
                    with autocast_for(device, amp):
                        hits += float((model(x).float().argmax(1) == y).sum())
                    count += len(y)
            hits, count = ctx.all_sum([hits, count])
            return hits / count

        return streamed
    images = torch.from_numpy(data.images[ctx.rank :: ctx.world]).to(device)
    labels = torch.from_numpy(data.labels[ctx.rank :: ctx.world]).to(device)
    return lambda model, amp: top1_accuracy(model, images, labels, prep, cfg.channels_last, amp, ctx.all_sum)


def make_optimizer(
    groups: list[dict[str, Any]], cfg: TrainConfig, device: torch.device
) -> tuple[torch.optim.SGD, torch.Tensor | None]:
    """SGD with momentum (Nesterov's unless ``cfg.nesterov`` is off) over the parameter groups. With ``compile``:
    the fused optimiser (one kernel for the whole update) and the learning rate in a tensor on the device
    (returned), written in place every step, never read back. Without it: the classic optimiser, bit-identical to
    earlier runs."""
    lr_tensor = torch.tensor(cfg.lr, dtype=torch.float32, device=device) if cfg.compile else None
    opt = torch.optim.SGD(
        groups,
        lr=lr_tensor if lr_tensor is not None else cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        **({"fused": True} if cfg.compile else {}),
    )
    return opt, lr_tensor


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """The step's learning rate in every group (a fine-tuned backbone's scaled by its ``lr_scale``); written in
    place where it is a tensor (``make_optimizer`` with ``compile``), so a captured graph and the fused optimiser
    read the new value."""
    for g in opt.param_groups:
        value = lr * g.get("lr_scale", 1.0)
        if isinstance(g["lr"], torch.Tensor):
            g["lr"].fill_(value)
        else:
            g["lr"] = value


def make_step(
    model: nn.Module, cfg: TrainConfig, device: torch.device, amp: bool
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Forward pass and loss (loss, logits); the backward pass is the caller's. Under ``compile`` the whole of it,
    backward included, is one compiled graph: on CUDA replayed as a CUDA graph ("reduce-overhead")."""

    def forward_loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast_for(device, amp):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        return loss, logits

    if not cfg.compile:
        return forward_loss
    cuda = device.type == "cuda"
    compiled = torch.compile(
        forward_loss, backend=cfg.compile_backend, mode="reduce-overhead" if cuda else None, dynamic=False
    )

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if cuda:
            # A new iteration: outputs of the previous replay may be overwritten now (they were read already).
            torch.compiler.cudagraph_mark_step_begin()
        return compiled(x, y)

    return step


def top1_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    prep: Preprocessing,
    channels_last: bool,
    amp: bool,
    all_sum: Callable[[list[float]], list[float]],
) -> float:
    """Top-1 of eval-mode ``model`` on this rank's test shard, summed over the ranks."""
    logits = logits_of(model, images, prep, 1000, channels_last, amp)
    hits = float((logits.argmax(1) == labels).sum()) if len(labels) else 0.0
    hits, count = all_sum([hits, len(labels)])
    return hits / count
