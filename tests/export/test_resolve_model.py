"""Which weights an export uses: every shipped weights file is found by its variant's name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from shufflenet.export.pipeline import ExportConfig, ExportError, resolve_model
from shufflenet.model import load_model
from shufflenet.model.pretrained import DEFAULT_ARCH, SHIPPED_WEIGHTS, weights_dir


@pytest.mark.parametrize("arch", sorted(SHIPPED_WEIGHTS) or ["none-shipped"])
def test_every_shipped_weights_file_exports_by_name(arch: str, tmp_path: Path) -> None:
    if arch == "none-shipped":
        pytest.skip("no weights ship in this checkout")
    model, variant, source = resolve_model(ExportConfig(output=tmp_path / "out", arch=arch))
    assert variant.name == arch and source["kind"] == "embedded" and source["path"] == f"{arch}.pt"
    expected = load_model(weights_dir() / f"{arch}.pt")[0].state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())
    assert variant.weights is not None and variant.weights.metrics["top1"] > 0.8  # trained, not random


def test_default_and_unshipped(tmp_path: Path) -> None:
    _, variant, source = resolve_model(ExportConfig(output=tmp_path / "out"))
    assert variant.name == DEFAULT_ARCH
    assert source["kind"] == "embedded"  # the repository ships the default's weights
    with pytest.raises(ExportError, match="has no shipped weights"):
        resolve_model(ExportConfig(output=tmp_path / "out", arch="shufflenet_v1_g8_2.0x"))
