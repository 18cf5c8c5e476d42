"""The registry and `shufflenet-info`: every variant listed with its metadata and counts."""

from __future__ import annotations

import json

import pytest
from shufflenet.model import get_variant, list_variants
from shufflenet.model.cli_info import main as info_main
from shufflenet.model.registry import GROUPS, WIDTHS, scaled_channels


def test_every_group_and_width_registered_for_both_stems() -> None:
    names = set(list_variants())
    assert len(names) == 2 * len(GROUPS) * len(WIDTHS)
    for g in GROUPS:
        for w in WIDTHS:
            tag = f"{w:g}" if "." in f"{w:g}" else f"{w:g}.0"
            assert f"shufflenet_v1_g{g}_{tag}x" in names
            assert f"shufflenet_v1_g{g}_{tag}x_cifar" in names


def test_rule_for_unofficial_combinations() -> None:
    assert scaled_channels(1, 1.0) == (24, 144, 288, 576)
    assert scaled_channels(4, 1.0) == (24, 272, 544, 1088)
    assert scaled_channels(3, 0.25) == (6, 60, 120, 240)
    assert scaled_channels(8, 0.25) == (8, 96, 192, 384)
    assert scaled_channels(2, 0.5) == (12, 104, 200, 400)


def test_preprocessing_metadata() -> None:
    official = get_variant("shufflenet_v1_g3_1.0x").preprocessing
    assert (official.colour_order, official.scale, official.resize, official.crop) == ("BGR", 1.0, 256, (224, 224))
    assert official.mean == (0.0, 0.0, 0.0) and official.std == (1.0, 1.0, 1.0)
    cifar = get_variant("shufflenet_v1_g3_0.5x_cifar")
    assert cifar.preprocessing.colour_order == "RGB" and cifar.input_size == (32, 32) and cifar.num_classes == 10
    assert cifar.class_names()[0] == "airplane"


@pytest.mark.slow
def test_info_json_lists_every_variant_with_counts(capsys: pytest.CaptureFixture) -> None:
    assert info_main(["--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(list_variants())
    for r in rows.values():
        assert {"name", "groups", "width", "stem", "num_classes", "input_size", "macs", "params"} <= set(r)
    assert round(rows["shufflenet_v1_g3_1.0x"]["macs"] / 1e6, 1) == 137.5
    assert round(rows["shufflenet_v1_g8_2.0x"]["params"] / 1e6, 2) == 6.52
    assert rows["shufflenet_v1_g3_1.0x"]["official_top1_err"] == 32.2
    assert rows["shufflenet_v1_g1_0.25x"]["paper_top1_err"] == 57.1


def test_info_table_has_published_errors(capsys: pytest.CaptureFixture) -> None:
    assert info_main(["--arch", "shufflenet_v1_g8_1.0x"]) == 0
    out = capsys.readouterr().out
    assert "shufflenet_v1_g8_1.0x" in out and "138.4" in out and "32.4" in out and "32.0" in out


@pytest.mark.parametrize("name", ["shufflenet_v1_g3_0.5x", "shufflenet_v1_g1_1.0x_cifar", "shufflenet_v1_g8_0.25x"])
def test_any_variant_builds_with_any_class_count(name: str) -> None:
    import torch

    registered = get_variant(name)
    mine = registered.with_classes(["boat", "elk", "jet"])
    assert (mine.name, mine.channels, mine.preprocessing) == (name, registered.channels, registered.preprocessing)
    assert mine.num_classes == 3 and mine.class_names() == ["boat", "elk", "jet"] and mine.weights is None
    h, w = registered.input_size
    assert mine.build()(torch.zeros(1, 3, h // 4 if h > 32 else h, w // 4 if w > 32 else w)).shape == (1, 3)
    assert get_variant(name).num_classes == registered.num_classes  # the registry itself is unchanged
    assert registered.with_classes(registered.class_names()) is registered  # same classes: the same variant
    with pytest.raises(ValueError, match="class names repeat"):
        registered.with_classes(["a", "b", "a"])
    assert len(list_variants()) == 2 * len(GROUPS) * len(WIDTHS)  # shufflenet-info still lists the family


def test_shipped_weights_stay_attached_for_their_own_classes() -> None:
    cifar = get_variant("shufflenet_v1_g1_1.0x_cifar")
    assert cifar.weights is not None and cifar.with_classes(cifar.class_names()).weights is cifar.weights
