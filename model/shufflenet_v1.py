"""ShuffleNet v1 (Zhang et al., CVPR 2018) in the exact layout of Megvii's official release.

Module names and ``nn.Sequential`` positions mirror ``megvii-model/ShuffleNet-Series/ShuffleNetV1`` so that
the official checkpoints load with ``strict=True``: ``first_conv``, ``features.{i}.branch_main_1``,
``features.{i}.branch_main_2``, ``classifier``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STAGE_REPEATS = (4, 8, 4)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """The official shuffle, written with rank-4 tensors only.

    The official code views channels as ``(C/g, g)`` in a 5-D tensor and swaps the two axes. Flattening
    the spatial axes first gives the same permutation with every tensor at rank <= 4, which TFLite's
    GPU delegate, NNAPI and Core ML's Neural Engine all accept. Shapes come from ``x.shape`` (symbolic
    under tracing), never from ``x.data``, so a dynamic batch axis survives ONNX export.
    """
    b, c, h, w = x.shape
    x = x.reshape(b, c // groups, groups, h * w)
    x = x.transpose(1, 2)
    return x.reshape(b, c, h, w)


class ShuffleV1Block(nn.Module):
    """One ShuffleNet v1 unit; stride 2 units concatenate an average-pooled shortcut."""

    def __init__(
        self,
        inp: int,
        oup: int,
        *,
        groups: int,
        first_group: bool,
        stride: int,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride
        self.groups = groups
        self.shuffle = shuffle and groups > 1
        mid = oup // 4
        outputs = oup - inp if stride == 2 else oup
        # The first unit of stage 2 sees only the stem's few channels, so its first pw conv is not grouped.
        pw1_groups = 1 if first_group else groups
        for name, value, div in (("mid", mid, groups), ("branch out", outputs, groups), ("in", inp, pw1_groups)):
            if value <= 0 or value % div:
                raise ValueError(f"{name} channels {value} not divisible by groups {div} (in={inp}, out={oup})")
        self.branch_main_1 = nn.Sequential(
            nn.Conv2d(inp, mid, 1, 1, 0, groups=pw1_groups, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
        )
        self.branch_main_2 = nn.Sequential(
            nn.Conv2d(mid, outputs, 1, 1, 0, groups=groups, bias=False),
            nn.BatchNorm2d(outputs),
        )
        self.branch_proj = nn.AvgPool2d(3, 2, 1) if stride == 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branch_main_1(x)
        if self.shuffle:
            y = channel_shuffle(y, self.groups)
        y = self.branch_main_2(y)
        if self.branch_proj is None:
            return F.relu(x + y)
        return torch.cat((self.branch_proj(x), F.relu(y)), 1)


class ShuffleNetV1(nn.Module):
    """ShuffleNet v1 with global average pooling, so any input size works.

    ``channels`` is ``[stem, stage2, stage3, stage4]``. ``stem="imagenet"`` is the official
    conv3x3/s2 + maxpool stem; ``stem="small"`` is a stride-1 stem without max pooling for 32x32 images.
    """

    def __init__(
        self,
        channels: tuple[int, int, int, int] | list[int],
        groups: int,
        num_classes: int = 1000,
        stem: str = "imagenet",
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        self.groups = groups
        self.stem = stem
        self.channels = tuple(channels)
        stem_ch = channels[0]
        stride = 2 if stem == "imagenet" else 1
        self.first_conv = nn.Sequential(
            nn.Conv2d(3, stem_ch, 3, stride, 1, bias=False),
            nn.BatchNorm2d(stem_ch),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(3, 2, 1) if stem == "imagenet" else nn.Identity()
        units = []
        inp = stem_ch
        for stage, (repeats, oup) in enumerate(zip(STAGE_REPEATS, channels[1:], strict=True)):
            for i in range(repeats):
                units.append(
                    ShuffleV1Block(
                        inp,
                        oup,
                        groups=groups,
                        first_group=stage == 0 and i == 0,
                        stride=2 if i == 0 else 1,
                        shuffle=shuffle,
                    )
                )
                inp = oup
        self.features = nn.Sequential(*units)
        self.classifier = nn.Sequential(nn.Linear(inp, num_classes, bias=False))
        self._initialize_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.first_conv(x))
        x = self.features(x)
        x = x.mean((2, 3))
        return self.classifier(x)

    def _initialize_weights(self) -> None:
        # The official initialisation: N(0, 0.01) for the stem, N(0, 1/fan_in) for other convs.
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d):
                std = 0.01 if "first" in name else 1.0 / m.weight.shape[1]
                nn.init.normal_(m.weight, 0, std)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0.0001)
                nn.init.constant_(m.running_mean, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
