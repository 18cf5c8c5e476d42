"""MACs and parameters counted from the modules reproduce the official README and the paper's Table 1."""

from __future__ import annotations

import pytest
import torch
from shufflenet.model import build_model, count_complexity

# Official README (facts file): MACs (M) and params (M) counted as conv + FC multiply-adds.
OFFICIAL = {
    "shufflenet_v1_g3_2.0x": (524.0, 5.45),
    "shufflenet_v1_g8_2.0x": (521.9, 6.52),
    "shufflenet_v1_g3_1.5x": (292.4, 3.44),
    "shufflenet_v1_g8_1.5x": (290.2, 4.27),
    "shufflenet_v1_g3_1.0x": (137.5, 1.86),
    "shufflenet_v1_g8_1.0x": (138.4, 2.43),
    "shufflenet_v1_g3_0.5x": (37.6, 0.72),
    "shufflenet_v1_g8_0.5x": (40.5, 1.01),
}
PAPER_TABLE1 = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}


@pytest.mark.parametrize("name,expected", OFFICIAL.items())
def test_official_variants_match_official_readme(name: str, expected: tuple[float, float]) -> None:
    cx = count_complexity(build_model(name), (224, 224))
    assert abs(cx.macs / 1e6 - expected[0]) <= 0.1
    assert abs(cx.params / 1e6 - expected[1]) <= 0.01


@pytest.mark.parametrize("groups,mflops", PAPER_TABLE1.items())
def test_paper_1x_rows_match_table1_within_2_percent(groups: int, mflops: int) -> None:
    cx = count_complexity(build_model(f"shufflenet_v1_g{groups}_1.0x"), (224, 224))
    assert abs(cx.conv_macs / 1e6 - mflops) / mflops <= 0.02


def test_counts_scale_with_input_size_and_leave_model_untouched() -> None:
    model = build_model("shufflenet_v1_g3_0.5x")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    small = count_complexity(model, (224, 224))
    big = count_complexity(model, (448, 448))
    # Conv MACs grow with the pixel count (exactly 4x here: every feature map doubles per side); FC does not.
    assert big.conv_macs == 4 * small.conv_macs
    assert big.fc_macs == small.fc_macs == 480 * 1000
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training
