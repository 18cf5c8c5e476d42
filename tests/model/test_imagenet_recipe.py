"""The official ImageNet recipe as a preset: its figures, their linear scaling with the global batch, the linear
schedule, the final BatchNorm-statistics epoch, and a short real run of it on a streamed folder of photos."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from shufflenet.model.bn_recalibration import recalibrate_batchnorm
from shufflenet.model.cli_train import parse_args
from shufflenet.model.recipe import preset
from shufflenet.model.registry import get_variant
from shufflenet.model.train_steps import lr_at
from train_cli import run_train_cli


def test_the_official_figures_and_their_linear_scaling() -> None:
    at_1024 = preset("imagenet-official")
    assert (at_1024["batch_size"], at_1024["lr"], at_1024["total_steps"]) == (1024, 0.5, 300_000)
    assert at_1024["weight_decay"] == 4e-5 and at_1024["label_smoothing"] == 0.1 and at_1024["momentum"] == 0.9
    assert at_1024["nesterov"] is False and at_1024["schedule"] == "linear" and at_1024["warmup_epochs"] == 0
    assert at_1024["bn_recalibration"] and at_1024["data_mode"] == "stream" and at_1024["clip_grad"] == 0
    at_256 = preset("imagenet-official", 256)  # a quarter of the batch: a quarter of the lr, 4 x the steps
    assert (at_256["lr"], at_256["total_steps"]) == (0.125, 1_200_000)
    at_2048 = preset("imagenet-official", 2048)
    assert (at_2048["lr"], at_2048["total_steps"]) == (1.0, 150_000)
    with pytest.raises(ValueError, match="unknown recipe 'imagenet'; choose one of imagenet-official"):
        preset("imagenet")


def test_recipe_flags_fill_what_is_not_given(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    args = parse_args([*data, "--recipe", "imagenet-official"])
    assert (args.batch_size, args.lr, args.steps, args.weight_decay, args.schedule) == (1024, 0.5, 300_000, 4e-5,
                                                                                        "linear")  # fmt: skip
    assert args.bn_recalibration and args.data_mode == "stream" and args.nesterov is False and args.clip_grad == 0
    scaled = parse_args([*data, "--recipe", "imagenet-official", "--batch-size", "512"])
    assert (scaled.lr, scaled.steps) == (0.25, 600_000)
    given = parse_args([*data, "--recipe", "imagenet-official", "--batch-size", "512", "--lr", "0.3", "--epochs", "2"])
    assert (given.lr, given.steps, given.epochs) == (0.3, 0, 2)  # an --epochs given replaces the step count
    plain = parse_args(data)
    assert (plain.batch_size, plain.lr, plain.steps, plain.schedule, plain.nesterov) == (0, 0.0, 0, "cosine", True)


def test_linear_schedule_is_the_official_lambda_stepped_before_each_update() -> None:
    total = 300_000
    assert lr_at(0, total, 0, 0.5, "linear") == pytest.approx(0.5 * (1 - 1 / total))
    assert lr_at(149_999, total, 0, 0.5, "linear") == pytest.approx(0.25)
    assert lr_at(total - 1, total, 0, 0.5, "linear") == 0.0
    assert lr_at(10, 100, 5, 1.0, "linear") == pytest.approx(1.0 * (1 - 6 / 95))  # after a warm-up of 5 steps


def test_batchnorm_recalibration_is_the_exact_average_of_the_batch_statistics() -> None:
    """One epoch of three batches: the stem's BatchNorm ends with the mean of the three batch means and of the
    three (unbiased) batch variances of its input, whatever its statistics were; no weight moves."""
    torch.manual_seed(0)
    model = get_variant("shufflenet_v1_g3_0.25x_cifar").build()
    batches = [torch.randn(6, 3, 32, 32) * s + m for s, m in ((1.0, 0.0), (2.0, 1.0), (0.5, -2.0))]
    conv, bn = model.first_conv[0], model.first_conv[1]
    bn.running_mean.fill_(7.0)
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    with torch.no_grad():
        acts = [conv(x) for x in batches]
    want_mean = torch.stack([a.mean((0, 2, 3)) for a in acts]).mean(0)
    want_var = torch.stack([a.var((0, 2, 3), unbiased=True) for a in acts]).mean(0)
    model.eval()
    steps = recalibrate_batchnorm([model], batches, torch.autocast("cpu", enabled=False))
    assert steps == 3 and not model.training and bn.momentum == 0.1
    assert torch.allclose(bn.running_mean, want_mean, rtol=1e-4, atol=1e-6)
    assert torch.allclose(bn.running_var, want_var, rtol=1e-4, atol=1e-6)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())


@pytest.mark.slow
def test_the_recipe_trains_a_224_variant_on_streamed_photos(imagenet_samples: Path, tmp_path: Path) -> None:
    """`--recipe imagenet-official` at a global batch of 4: the scaled lr, plain momentum, the linear schedule to
    its last step, then the BatchNorm epoch, on 8 real photos decoded on the fly."""
    root = tmp_path / "photos"
    for i, f in enumerate(sorted(imagenet_samples.iterdir())[:8]):
        (root / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        (root / f"c{i % 2}" / f.name).hardlink_to(f)
    out = tmp_path / "run.pt"
    proc = run_train_cli("--recipe", "imagenet-official", "--arch", "shufflenet_v1_g1_0.25x", "--data", str(root),
                         "--val", str(root), "--batch-size", "4", "--steps", "2", "--loader-workers", "1",
                         "--threads", "1", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(streamed data)" in proc.stderr and "BatchNorm statistics: the average of 2 batches" in proc.stderr
    saved = torch.load(out, weights_only=False)
    cfg = saved["config"]
    assert cfg["recipe"] == "imagenet-official" and cfg["lr"] == pytest.approx(0.5 * 4 / 1024)
    assert cfg["total_steps"] == 2 and cfg["nesterov"] is False and cfg["schedule"] == "linear"
    assert saved["step"] == 2 and saved["bn_recalibrated"] and saved["history"][-1]["lr"] == 0.0
    assert "nesterov" in saved["optimizer"]["param_groups"][0] and not saved["optimizer"]["param_groups"][0]["nesterov"]
