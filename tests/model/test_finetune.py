"""Fine-tuning from an official-layout 1000-class ImageNet checkpoint onto a folder of 3 classes: the backbone
loads, the classifier is replaced (said in one line), the backbone can be frozen or trained more slowly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from shufflenet.model import build_model, load_model
from shufflenet.model.checkpoint import CheckpointError, to_official_state_dict
from shufflenet.model.datasets import load_image_folder
from shufflenet.model.finetune import init_from_checkpoint
from shufflenet.model.registry import get_variant
from shufflenet.model.training import TrainConfig, train

OFFICIAL = "shufflenet_v1_g3_0.5x"  # official Megvii channels; 1000 classes, 224x224
SMALL = "shufflenet_v1_g3_0.5x_cifar"  # the same backbone shapes with the small-image stem (32x32)


@pytest.fixture(scope="module")
def official_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An official-layout file (``{"state_dict": {"module.…": …}}``, 1000 classes) of a randomly initialised
    model with non-trivial BatchNorm statistics."""
    torch.manual_seed(0)
    model = build_model(OFFICIAL)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("official") / "ShuffleNetV1_0.5x_g3.pth.tar"
    torch.save({"state_dict": to_official_state_dict(model, data_parallel=True)}, path)
    return path


def _official_sd(path: Path) -> dict[str, torch.Tensor]:
    sd = torch.load(path, weights_only=True)["state_dict"]
    return {k.removeprefix("module."): v for k, v in sd.items()}


def test_backbone_loads_and_the_classifier_is_replaced(official_file: Path) -> None:
    classes = ["bird", "deer", "ship"]
    model = get_variant(OFFICIAL).with_classes(classes).build()
    result = init_from_checkpoint(model, official_file, OFFICIAL, classes)
    assert result.replaced_classifier
    assert "backbone loaded; its 1000-class classifier is replaced by a new one for the 3 classes" in result.message
    official = _official_sd(official_file)
    sd = model.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in official.items() if not k.startswith("classifier."))
    assert sd["classifier.0.weight"].shape == (3, 480)
    # Another variant's file is refused, naming what it is.
    with pytest.raises(CheckpointError, match=r"is a shufflenet_v1_g3_0\.5x checkpoint, not shufflenet_v1_g8_0\.5x"):
        init_from_checkpoint(get_variant("shufflenet_v1_g8_0.5x").with_classes(classes).build(), official_file,
                             "shufflenet_v1_g8_0.5x", classes)  # fmt: skip


def test_train_cli_fine_tunes_from_an_official_file_with_a_frozen_backbone(
    official_file: Path, own_photos: dict[str, Path], tmp_path: Path
) -> None:
    """No --arch: the variant is the file's (224x224 ImageNet stem); the photos are resized to it."""
    out = tmp_path / "tuned.pt"
    cmd = [sys.executable, "-m", "shufflenet.model.cli_train", "--data", str(own_photos["train"]), "--init-from",
           str(official_file), "--freeze-backbone", "--epochs", "1", "--max-steps", "2", "--batch-size", "8",
           "--threads", "1", "--cache", str(tmp_path / "cache"), "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    said = [ln for ln in proc.stderr.splitlines() if "classifier is replaced" in ln]
    assert len(said) == 1 and "3 classes of the data (bird, deer, ship)" in said[0]
    model, variant, ckpt = load_model(out)
    assert variant.name == OFFICIAL and variant.class_names() == ["bird", "deer", "ship"]
    official = _official_sd(official_file)
    sd = model.state_dict()
    weights = [k for k in official if k.endswith(".weight") and "classifier" not in k and official[k].ndim > 1]
    assert weights and all(torch.equal(sd[k], official[k]) for k in weights)  # frozen: unchanged
    assert ckpt.meta["config"]["freeze_backbone"] and ckpt.meta["finetune"]


def test_backbone_learns_at_a_fraction_of_the_rate(official_file: Path, own_photos: dict[str, Path],
                                                   tmp_path: Path) -> None:  # fmt: skip
    """The official backbone in the small-image variant (same tensor shapes) on 32x32 inputs; one step at a
    backbone rate of 1 and of 0.1: the backbone moves about ten times less, the new classifier as much."""
    data = load_image_folder(own_photos["train"], get_variant(SMALL).preprocessing, tmp_path / "cache")
    official = _official_sd(official_file)
    moved = {}
    for scale in (1.0, 0.1):
        cfg = TrainConfig(arch=SMALL, epochs=1, max_steps=1, batch_size=16, lr=0.05, warmup_epochs=0,
                          init_from=str(official_file), backbone_lr_scale=scale, threads=1, clip_grad=0)  # fmt: skip
        out = tmp_path / f"s{scale}.pt"
        train(cfg, data, None, out)
        sd = load_model(out)[0].state_dict()
        moved[scale] = sum(float((sd[k] - official[k]).abs().sum()) for k in official
                           if k.endswith(".weight") and official[k].ndim > 1 and "classifier" not in k)  # fmt: skip
    assert 0.05 < moved[0.1] / moved[1.0] < 0.2, moved
