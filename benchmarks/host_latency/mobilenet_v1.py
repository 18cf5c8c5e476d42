"""MobileNet v1 (Howard et al., 2017), a minimal reference definition: the ShuffleNet paper's comparison point.

torchvision cannot be installed beside the pinned torch, so the network is written out here: a 3x3 stride-2
stem, 13 depthwise-separable blocks (3x3 depthwise + BN + ReLU, 1x1 pointwise + BN + ReLU), global average
pooling and a fully-connected classifier. At 224x224 and width 1.0 it has 569 M multiply-adds (conv + FC) and
4.2 M parameters, the figures of the MobileNet paper (Table 8 of ShuffleNet lists MobileNet 1.0 at 569 MFLOPs).
"""

from __future__ import annotations

import torch
from torch import nn

# (output channels, stride) of the 13 depthwise-separable blocks at width 1.0
BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip


def _conv_bn_relu(inp: int, oup: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU(inplace=True),
    )


class MobileNetV1(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 1000) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        self.width = width

        def ch(c: int) -> int:
            return max(8, int(c * width))

        layers: list[nn.Module] = [_conv_bn_relu(3, ch(32), 3, 2)]
        inp = ch(32)
        for oup, stride in BLOCKS:
            layers.append(_conv_bn_relu(inp, inp, 3, stride, groups=inp))  # depthwise
            layers.append(_conv_bn_relu(inp, ch(oup), 1, 1))  # pointwise
            inp = ch(oup)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(inp, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(x.mean((2, 3)))


def mobilenet_v1(width: float = 1.0, num_classes: int = 1000) -> MobileNetV1:
    return MobileNetV1(width, num_classes)
