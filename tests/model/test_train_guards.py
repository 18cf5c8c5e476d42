"""What keeps a run from losing work or going silently wrong: an existing --out is never overwritten unless asked,
a resume continues the very same run only, a diverging run stops keeping its last good checkpoint. Real runs on
real photos (a 3-class folder cut from CIFAR-10, every image its own size)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from shufflenet.model.checkpoint import read_training_state
from shufflenet.model.datasets import load_image_folder
from shufflenet.model.files import sha256_path
from shufflenet.model.registry import get_variant
from shufflenet.model.train_guards import DivergenceGuard, ResumeMismatch, TrainingDiverged
from shufflenet.model.training import TrainConfig, train

ARCH = "shufflenet_v1_g3_0.25x_cifar"
PREP = get_variant(ARCH).preprocessing


def _train_cli(*args: str | Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "shufflenet.model.cli_train", "--arch", ARCH, "--threads", "1", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_out_is_never_overwritten_unless_resume_or_force(own_photos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "runs" / "last.pt"
    common = ("--data", own_photos["train"], "--cache", tmp_path / "cache", "--out", out, "--epochs", "1",
              "--max-steps", "1")  # fmt: skip
    first = _train_cli(*common)
    assert first.returncode == 0, first.stderr
    digest = sha256_path(out)
    again = _train_cli(*common)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.count("\n") == 1 and "already exists" in again.stderr and "--resume" in again.stderr
    assert sha256_path(out) == digest and [p.name for p in out.parent.iterdir()] == ["last.pt"]
    forced = _train_cli(*common, "--force", "--seed", "1")
    assert forced.returncode == 0, forced.stderr
    kept = [p for p in out.parent.iterdir() if p.name.startswith("last.pt.bak-")]
    assert len(kept) == 1 and sha256_path(kept[0]) == digest and f"kept as {kept[0]}" in forced.stderr
    assert sha256_path(out) != digest  # the new run's own checkpoint (another seed)


@pytest.fixture(scope="module")
def first_epoch(own_photos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainConfig]:
    """A run of 3 epochs stopped after its first (resumable)."""
    d = tmp_path_factory.mktemp("resume")
    data = load_image_folder(own_photos["train"], PREP, d / "cache")
    cfg = TrainConfig(arch=ARCH, epochs=3, batch_size=16, threads=1)
    train(TrainConfig(**{**cfg.__dict__, "max_steps": 3}), data, None, d / "run.pt")
    assert read_training_state(d / "run.pt")["epoch"] == 1
    return d / "run.pt", cfg


def test_resume_refuses_other_classes_variant_or_recipe(
    first_epoch: tuple[Path, TrainConfig], own_photos: dict[str, Path], tmp_path: Path
) -> None:
    run, cfg = first_epoch
    out = tmp_path / "run.pt"
    shutil.copy(run, out)
    renamed = tmp_path / "renamed"  # "deer" renamed "elk": same images, the label indices of a class list changed
    shutil.copytree(own_photos["train"], renamed)
    (renamed / "deer").rename(renamed / "elk")
    data = load_image_folder(renamed, PREP, tmp_path / "cache")
    with pytest.raises(ResumeMismatch, match=r"classes \[bird, deer, ship\] \(3\) \(checkpoint\) vs \[bird, elk, ship"):
        train(cfg, data, None, out, resume=True)
    data = load_image_folder(own_photos["train"], PREP, tmp_path / "cache")
    with pytest.raises(ResumeMismatch, match=r"batch_size 16 \(checkpoint\) vs 8") as e:
        train(TrainConfig(**{**cfg.__dict__, "batch_size": 8}), data, None, out, resume=True)
    assert "\n" not in str(e.value)
    with pytest.raises(ResumeMismatch, match=r"variant shufflenet_v1_g3_0\.25x_cifar \(checkpoint\) vs .*; lr 0"):
        train(TrainConfig(**{**cfg.__dict__, "arch": "shufflenet_v1_g3_0.5x_cifar", "lr": 0.5}), data, None, out,
              resume=True)  # fmt: skip
    assert sha256_path(out) == sha256_path(run)  # nothing was written
    # The same run, threads changed (a runtime setting): continues to the end.
    result = train(TrainConfig(**{**cfg.__dict__, "threads": 2}), data, None, out, resume=True)
    assert [e.epoch for e in result.history] == [1, 2, 3]


def test_default_recipe_is_stable_on_a_small_folder(own_photos_300: Path, tmp_path: Path) -> None:
    """Three hundred photos: the automatic recipe (batch, learning rate, warm-up, clipping) lowers the loss
    epoch after epoch, where the CIFAR-10 recipe (batch 128, lr 0.1, one epoch of warm-up) blows up."""
    data = load_image_folder(own_photos_300, PREP, tmp_path / "cache")
    result = train(TrainConfig(arch=ARCH, epochs=4, threads=1), data, None, tmp_path / "auto.pt")
    losses = [e.loss for e in result.history]
    assert result.config.batch_size == 32 and result.config.lr == pytest.approx(0.025), result.config
    assert max(losses) < 1.15 * losses[0] and losses[-1] < losses[0], losses
    old = TrainConfig(arch=ARCH, epochs=4, threads=1, batch_size=128, lr=0.1, clip_grad=0)
    with pytest.raises(TrainingDiverged, match="exploded"):
        train(old, data, None, tmp_path / "old.pt")


def test_a_diverging_run_stops_in_one_line_keeping_the_last_good_checkpoint(
    own_photos: dict[str, Path], tmp_path: Path
) -> None:
    # Ten epochs of warm-up to a learning rate of 0.3, no clipping: the first epoch (lr <= 0.03) is fine, later
    # ones are not. The first run stops after epoch 1 (--max-steps); the resumed one diverges.
    out = tmp_path / "run.pt"
    recipe = ("--data", own_photos["train"], "--cache", tmp_path / "cache", "--out", out, "--epochs", "10",
              "--warmup-epochs", "10", "--lr", "0.3", "--clip-grad", "0", "--batch-size", "16")  # fmt: skip
    first = _train_cli(*recipe, "--max-steps", "3")
    assert first.returncode == 0, first.stderr
    good = sha256_path(out)
    resumed = _train_cli(*recipe, "--resume")
    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr, resumed.stderr
    line = next(ln for ln in resumed.stderr.splitlines() if ln.startswith("error: "))
    assert ("exploded" in line or "became nan" in line) and f"the checkpoint of epoch 1 is kept at {out}" in line
    assert sha256_path(out) == good and read_training_state(out)["epoch"] == 1


def test_guard_names_non_finite_and_exploding_losses(tmp_path: Path) -> None:
    guard = DivergenceGuard(num_classes=3, out=tmp_path / "x.pt", lr=0.1)
    guard.check(1.1, "epoch 1, step 1")
    guard.check(3.0, "epoch 1, step 2")  # high but within 4 x ln(3) ... 4 x 1.1
    with pytest.raises(TrainingDiverged, match=r"exploded to 12 at epoch 2 .*no checkpoint was written"):
        guard.check(12.0, "epoch 2")
    guard.saved(2)
    with pytest.raises(TrainingDiverged, match=r"became nan at epoch 3; stopped, the checkpoint of epoch 2 is kept"):
        guard.check(float("nan"), "epoch 3")


class _Touch:
    """Pickles as ``Path.touch(marker)``: what a malicious checkpoint would do with os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("reader", ["resume", "publish", "export_weights"])
def test_training_checkpoints_are_read_without_running_code(
    first_epoch: tuple[Path, TrainConfig], own_photos: dict[str, Path], tmp_path: Path, reader: str
) -> None:
    run, cfg = first_epoch
    payload = read_training_state(run)
    marker = tmp_path / "code-ran"
    payload["history"] = [_Touch(marker)]
    bad = tmp_path / "handed-over.pt"
    torch.save(payload, bad)
    from shufflenet.model.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="refused as unsafe") as e:
        if reader == "resume":
            data = load_image_folder(own_photos["train"], PREP, tmp_path / "cache")
            train(cfg, data, None, bad, resume=True)
        elif reader == "publish":
            from shufflenet.model.publish import publish

            publish(bad, own_photos["test"], dest_dir=tmp_path)
        else:
            from shufflenet.model.training import export_weights

            export_weights(bad, tmp_path / "small.pt")
    assert not marker.exists() and "\n" not in str(e.value)


def test_old_checkpoints_still_read_safely(shared) -> None:
    """A GPU run's training checkpoint (numpy RNG state included) and the shipped weights: read with
    weights_only=True."""
    from shufflenet.model.registry import weights_dir

    state = read_training_state(shared("weights", "g3_1.0x_cifar_gpu_run1", "last.pt"))
    assert state["rng"]["bit_generator"] == "PCG64" and state["epoch"] > 0
    for shipped in sorted(weights_dir().glob("*.pt")):
        assert read_training_state(shipped)["arch"] == shipped.stem
