"""An exponential moving average (EMA) of a model's weights, updated after every optimiser step.

Averaging the weights over the last few thousand steps gives a model that usually tests a little better than the
last step's, at no training cost. Batch-norm running statistics are averaged too (they belong to the averaged
weights as much as the weights do), the step counter is copied. The update is two foreach kernels on the device,
with no host synchronisation, so it sits beside a CUDA-graph-captured step without slowing it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightEma:
    """``ema = decay * ema + (1 - decay) * model`` after every step, on the model's device."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"--ema {decay}: the decay must lie between 0 and 1 (e.g. 0.999), or 0 for no EMA")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        mine = self.module.state_dict(keep_vars=True)
        theirs = model.state_dict(keep_vars=True)
        floats = [k for k, v in mine.items() if v.is_floating_point()]
        counters = [k for k, v in mine.items() if not v.is_floating_point()]  # batch-norm step counters
        self._floats = ([mine[k].data for k in floats], [theirs[k].data for k in floats])
        self._counters = ([mine[k].data for k in counters], [theirs[k].data for k in counters])

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self._floats[0], self._floats[1], 1.0 - self.decay)
        if self._counters[0]:
            torch._foreach_copy_(self._counters[0], self._counters[1])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights as CPU tensors in the ordinary layout (a model state dict)."""
        return {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
