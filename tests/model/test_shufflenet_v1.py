"""The network itself: layout, shuffle order, pooling, ablation, every variant's forward pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from shufflenet.model import ShuffleNetV1, build_model, channel_shuffle, get_variant, list_variants
from shufflenet.model.shufflenet_v1 import ShuffleV1Block
from torch import nn


def official_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Megvii's ShuffleNetV1 channel_shuffle, verbatim in effect (5-D reshape/permute)."""
    b, c, h, w = x.data.size()
    x = x.reshape(b, c // groups, groups, h, w).permute(0, 2, 1, 3, 4)
    return x.reshape(b, c, h, w)


def paper_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """The paper's description: channels as (g, n), transpose to (n, g), flatten."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


@pytest.mark.parametrize("groups,channels", [(2, 8), (3, 12), (3, 60), (4, 16), (8, 48)])
def test_rank4_shuffle_equals_official_5d_form(groups: int, channels: int) -> None:
    x = torch.randn(2, channels, 5, 7)
    assert torch.equal(channel_shuffle(x, groups), official_shuffle(x, groups))


def test_shuffle_follows_official_not_paper_order() -> None:
    x = torch.arange(12.0).view(1, 12, 1, 1)
    ours = channel_shuffle(x, 3).flatten().tolist()
    # Official: view (C/g=4, g=3) and swap: channel j*3+i goes to i*4+j.
    assert ours == [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]
    assert ours != paper_shuffle(x, 3).flatten().tolist()


def test_shuffle_keeps_rank_4_in_traced_graph() -> None:
    graph = torch.jit.trace(lambda t: channel_shuffle(t, 3), torch.randn(1, 12, 4, 4)).graph
    for node in graph.nodes():
        for out in node.outputs():
            t = out.type()
            if isinstance(t, torch.TensorType) and t.dim() is not None:
                assert t.dim() <= 4, node


class OfficialBlock(nn.Module):
    """The official unit's forward, driving our block's own modules (so only the wiring is compared)."""

    def __init__(self, block: ShuffleV1Block) -> None:
        super().__init__()
        self.b = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b.branch_main_1(x)
        if self.b.groups > 1:
            y = official_shuffle(y, self.b.groups)
        y = self.b.branch_main_2(y)
        if self.b.stride == 1:
            return F.relu(y + x)
        return torch.cat((F.avg_pool2d(x, 3, 2, 1), F.relu(y)), 1)


def randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


@pytest.mark.parametrize("inp,oup,stride,first", [(24, 240, 2, True), (240, 480, 2, False), (240, 240, 1, False)])
def test_unit_matches_official_forward(inp: int, oup: int, stride: int, first: bool) -> None:
    block = randomise_bn(ShuffleV1Block(inp, oup, groups=3, first_group=first, stride=stride))
    x = torch.randn(2, inp, 14, 14)
    assert torch.allclose(block(x), OfficialBlock(block)(x), atol=1e-6)


def test_unit_layout_matches_official() -> None:
    model = build_model("shufflenet_v1_g3_1.0x")
    first = model.features[0]
    assert first.branch_main_1[0].groups == 1  # first stage-2 pw conv ungrouped
    assert model.features[1].branch_main_1[0].groups == 3
    assert first.branch_main_1[3].groups == first.branch_main_1[3].in_channels  # depthwise
    assert all(not isinstance(m, nn.ReLU) for m in list(first.branch_main_1)[3:])  # no ReLU after dw
    assert first.branch_main_2[0].out_channels == 240 - 24
    assert model.classifier[0].bias is None
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))
    assert len(model.features) == 16


def test_global_pool_equals_official_avgpool7_at_224() -> None:
    model = randomise_bn(build_model("shufflenet_v1_g3_0.5x"))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        feats = model.features(model.maxpool(model.first_conv(x)))
        official = model.classifier(nn.AvgPool2d(7)(feats).flatten(1))
        assert torch.equal(model(x), model.classifier(feats.mean((2, 3))))
        assert torch.allclose(model(x), official, atol=1e-6, rtol=1e-5)


def test_no_shuffle_ablation_removes_only_the_shuffle() -> None:
    with_shuffle = randomise_bn(build_model("shufflenet_v1_g3_0.5x"))
    without = build_model("shufflenet_v1_g3_0.5x", shuffle=False)
    without.load_state_dict(with_shuffle.state_dict(), strict=True)  # same parameters, same layout
    without.eval()
    x = torch.randn(1, 3, 64, 64)
    assert not torch.allclose(with_shuffle(x), without(x))
    # Re-inserting the shuffle into the ablated network's units restores the output exactly.
    for unit in without.features:
        unit.shuffle = True
    assert torch.equal(with_shuffle(x), without(x))


@pytest.mark.parametrize("name", list_variants())
def test_every_variant_forward(name: str) -> None:
    v = get_variant(name)
    model = v.build().eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *v.input_size))
    assert out.shape == (1, v.num_classes)
    assert torch.isfinite(out).all()


def test_channel_rule_keeps_groups_divisible() -> None:
    for name in list_variants():
        v = get_variant(name)
        stem, *stages = v.channels
        for c in stages:
            assert (c // 4) % v.groups == 0, name
        assert (stages[0] - stem) % v.groups == 0, name


def test_official_channel_lists() -> None:
    assert get_variant("shufflenet_v1_g8_0.5x").channels == (16, 192, 384, 768)
    assert get_variant("shufflenet_v1_g3_1.5x").channels == (24, 360, 720, 1440)
    assert get_variant("shufflenet_v1_g8_1.5x").channels == (24, 576, 1152, 2304)


def test_small_stem_runs_32x32_and_keeps_resolution() -> None:
    model = build_model("shufflenet_v1_g3_0.5x_cifar")
    assert isinstance(model.maxpool, nn.Identity) and model.first_conv[0].stride == (1, 1)
    x = torch.randn(2, 3, 32, 32)
    assert model.features(model.first_conv(x)).shape[-2:] == (4, 4)


def test_bad_construction_fails_clearly() -> None:
    with pytest.raises(ValueError, match="divisible"):
        ShuffleNetV1((24, 100, 200, 400), groups=3)
    with pytest.raises(ValueError, match="stem"):
        ShuffleNetV1((24, 240, 480, 960), groups=3, stem="tiny")
