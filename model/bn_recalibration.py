"""The last phase of the official ImageNet recipe ("bn_process" in Megvii's ``train.py``): after the last
training step, one more epoch over the training images with the weights frozen, every BatchNorm's running mean
and variance set to the exact average of that epoch's batch statistics.

The official code sets each BatchNorm's momentum to ``1 / iteration`` and keeps stepping the optimiser at a
learning rate of 0 (the weights do not move); PyTorch's ``momentum=None`` (a cumulative average, restarted here)
computes the same average without the optimiser. Over several processes each one averages its own batches and the
results are averaged again (with ``--sync-bn`` every process already holds the global statistics)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_batchnorm(
    models: list[nn.Module], batches: Iterable[torch.Tensor], autocast: torch.autocast, world: int = 1
) -> int:
    """Set the BatchNorm statistics of every model in ``models`` (the weights, and their moving average where kept)
    to the average over ``batches`` (network inputs, training mode, no gradient); returns the batch count."""
    norms = [bn for m in models for bn in _batchnorms(m)]
    momenta = [bn.momentum for bn in norms]
    modes = [m.training for m in models]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches seen since the reset
    for m in models:
        m.train()
    steps = 0
    for x in batches:
        with autocast:
            for m in models:
                m(x)
        steps += 1
    for bn, momentum in zip(norms, momenta, strict=True):
        bn.momentum = momentum
    for m, mode in zip(models, modes, strict=True):
        m.train(mode)
    if world > 1 and norms:
        stats = torch.cat([torch.cat([bn.running_mean, bn.running_var]) for bn in norms])
        dist.all_reduce(stats)
        stats /= world
        offset = 0
        for bn in norms:
            c = bn.num_features
            bn.running_mean.copy_(stats[offset : offset + c])
            bn.running_var.copy_(stats[offset + c : offset + 2 * c])
            offset += 2 * c
    return steps
