"""Real short training runs on real CIFAR-10 images; dataset folder errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from shufflenet.model import load_model
from shufflenet.model.datasets import DatasetError, load_image_folder
from shufflenet.model.registry import get_variant
from shufflenet.model.training import TrainConfig, train

ARCH = "shufflenet_v1_g3_0.25x_cifar"


def test_short_run_lowers_loss_and_checkpoint_loads(cifar_subset: Path, tmp_path: Path) -> None:
    data = load_image_folder(cifar_subset, (32, 32), tmp_path / "cache")
    assert data.images.shape == (60, 32, 32, 3) and len(set(data.labels.tolist())) == 10
    cfg = TrainConfig(arch=ARCH, epochs=12, batch_size=20, lr=0.05, label_smoothing=0.0, pad=0, flip=False,
                      warmup_epochs=0, weight_decay=0.0, threads=1)  # fmt: skip
    result = train(cfg, data, data, tmp_path / "run.pt")
    losses = [e.loss for e in result.history]
    assert losses[-1] < 0.8 * losses[0], losses
    _, variant, ckpt = load_model(tmp_path / "run.pt")
    assert variant.name == ARCH and ckpt.source_format == "shufflenet-mobile"
    assert ckpt.meta["epoch"] == 12 and len(ckpt.meta["history"]) == 12


def test_resume_continues_exactly(cifar_subset: Path, tmp_path: Path) -> None:
    data = load_image_folder(cifar_subset, (32, 32), tmp_path / "cache")
    cfg = TrainConfig(arch=ARCH, epochs=2, batch_size=30, lr=0.05, threads=1, seed=5)
    straight = tmp_path / "straight.pt"
    train(cfg, data, None, straight)
    split = tmp_path / "split.pt"
    train(TrainConfig(**{**cfg.__dict__, "epochs": 2, "max_steps": 2}), data, None, split)  # stops after epoch 1
    assert torch.load(split, weights_only=False)["epoch"] == 1
    result = train(cfg, data, None, split, resume=True)
    assert [e.epoch for e in result.history] == [1, 2]
    a = torch.load(straight, weights_only=False)["state_dict"]
    b = torch.load(split, weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_from_starts_at_the_given_weights(cifar_subset: Path, tmp_path: Path) -> None:
    data = load_image_folder(cifar_subset, (32, 32), tmp_path / "cache")
    base = dict(arch=ARCH, epochs=3, batch_size=20, lr=0.05, label_smoothing=0.0, pad=0, flip=False,
                warmup_epochs=0, weight_decay=0.0, threads=1)  # fmt: skip
    first = train(TrainConfig(**base), data, None, tmp_path / "first.pt")
    again = train(TrainConfig(**base, init_from=str(tmp_path / "first.pt")), data, None, tmp_path / "again.pt")
    # A restart from trained weights begins where the first run ended, far below a fresh start's loss.
    assert again.history[0].loss < first.history[0].loss
    assert again.history[0].loss < 1.1 * first.history[-1].loss
    with pytest.raises(ValueError, match=r"not shufflenet_v1_g3_0\.5x_cifar"):
        train(TrainConfig(**{**base, "arch": "shufflenet_v1_g3_0.5x_cifar"}, init_from=str(tmp_path / "first.pt")),
              data, None, tmp_path / "bad.pt")  # fmt: skip


def test_a_folder_of_any_class_count_trains_a_classifier_of_its_own(
    own_photos: dict[str, Path], tmp_path: Path
) -> None:
    """Three classes with a variant registered for ten: the classifier is sized from the folder and the
    checkpoint records the class names, which every loader then gives back."""
    data = load_image_folder(own_photos["train"], get_variant(ARCH).preprocessing, tmp_path / "cache")
    assert data.classes == ["bird", "deer", "ship"] and get_variant(ARCH).num_classes == 10
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(TrainConfig(arch=ARCH, epochs=1, max_steps=2, threads=1), data, None, tmp_path / "run.pt")
        # the run's one thread is not left behind for whatever runs next in this process (numerics change with it)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    model, variant, ckpt = load_model(tmp_path / "run.pt")
    assert variant.name == ARCH and variant.num_classes == 3 and variant.class_names() == data.classes
    assert ckpt.meta["classes"] == data.classes
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_publish_writes_weights_metrics_and_card(cifar_subset: Path, tmp_path: Path) -> None:
    """publish measures accuracy itself and names every file after the run's variant."""
    import json

    from shufflenet.model.publish import publish
    from shufflenet.model.train_steps import evaluate_array

    data = load_image_folder(cifar_subset, (32, 32), tmp_path / "cache")
    run = tmp_path / "run.pt"
    train(TrainConfig(arch=ARCH, epochs=1, batch_size=30, lr=0.05, threads=1), data, None, run)
    dest = tmp_path / "weights"
    dest.mkdir()
    info = publish(run, cifar_subset, notes="a test run", dest_dir=dest)
    assert sorted(p.name for p in dest.iterdir()) == [f"{ARCH}.{ext}" for ext in ("json", "md", "pt")]
    model, variant, _ = load_model(dest / f"{ARCH}.pt")
    acc, _ = evaluate_array(model, data, variant.preprocessing)
    assert info["metrics"]["top1"] == pytest.approx(acc) and info["metrics"]["test_images"] == 60
    assert json.loads((dest / f"{ARCH}.json").read_text())["sha256"] == info["sha256"]
    card = (dest / f"{ARCH}.md").read_text()
    assert f"top-1 {acc * 100:.2f} %" in card and "groups 3 (a channel shuffle" in card and "a test run" in card
    assert "embedded default" not in card  # 0.25x is not the default


def _png(path: Path, size: tuple[int, int] = (32, 32), seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)


@pytest.mark.parametrize(
    "layout,message",
    [
        ("empty", "no images found"),
        ("one_class", "at least 2 classes are needed"),
        ("unreadable", "every image of class folder"),
    ],
)
def test_bad_dataset_folders(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "data"
    root.mkdir()
    if layout != "empty":
        _png(root / "cat" / "a.png")
    if layout == "unreadable":  # the only image of a class cannot be read (an unreadable one among others is skipped)
        (root / "dog").mkdir()
        (root / "dog" / "c.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DatasetError, match=message) as e:
        load_image_folder(root, (32, 32), tmp_path / "cache")
    assert "\n" not in str(e.value)
    proc = subprocess.run(
        [sys.executable, "-m", "shufflenet.model.cli_train", "--arch", ARCH, "--data", str(root),
         "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "x.pt")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and message in proc.stderr
