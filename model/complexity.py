"""Multiply-adds and parameters counted from the module itself, at any input size.

MACs count conv and fully-connected multiply-adds only (no BN, ReLU, pooling, additions), the convention
of the ShuffleNet paper (its "FLOPs") and of the official README.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Complexity:
    macs: int
    conv_macs: int
    fc_macs: int
    params: int

    @property
    def mmacs(self) -> float:
        return self.macs / 1e6

    @property
    def mparams(self) -> float:
        return self.params / 1e6


def count_complexity(model: nn.Module, input_size: tuple[int, int] = (224, 224)) -> Complexity:
    conv = 0
    fc = 0

    def conv_hook(m: nn.Conv2d, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal conv
        kh, kw = m.kernel_size
        conv += out.numel() // out.shape[0] * (m.in_channels // m.groups) * kh * kw

    def fc_hook(m: nn.Linear, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal fc
        fc += m.in_features * m.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(fc_hook))
    was_training = model.training
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, *input_size, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return Complexity(macs=conv + fc, conv_macs=conv, fc_macs=fc, params=params)
