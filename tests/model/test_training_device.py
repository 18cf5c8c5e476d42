"""`--device`: batches made with tensor ops on the training device, checked on the CPU against NumPy references;
CLI runs with --device cpu on real CIFAR-10 images, the one-line error for --device cuda without CUDA, resume,
and the data-parallel CPU workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from shufflenet.model import get_variant, load_model
from shufflenet.model.batches import crop_flip, draw_epoch, normalize_batch
from shufflenet.model.datasets import load_image_folder
from shufflenet.model.preprocessing import normalize
from shufflenet.model.train_steps import to_input_batch
from shufflenet.model.training import TrainConfig, resolve_device, train
from train_cli import run_train_cli

ARCH = "shufflenet_v1_g3_0.25x_cifar"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def images(cifar_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return load_image_folder(cifar_subset, (32, 32), tmp_path_factory.mktemp("cache")).images


def _reference_crop_flip(img: np.ndarray, row: int, col: int, flip: bool, pad: int) -> np.ndarray:
    """The textbook augmentation, one image at a time: zero-pad, crop, mirror."""
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)))
    crop = padded[row : row + img.shape[0], col : col + img.shape[1]]
    return crop[:, ::-1] if flip else crop


@pytest.mark.parametrize("pad,flip", [(4, True), (4, False), (0, True), (2, True)])
def test_batched_crop_flip_equals_the_per_image_reference(images: np.ndarray, pad: int, flip: bool) -> None:
    rng = np.random.default_rng(7)
    draws = draw_epoch(rng, len(images), 16, pad, flip, CPU)
    assert draws.order.sort().values.tolist() == list(range(len(images)))
    assert int(draws.rows.min()) >= 0 and int(draws.rows.max()) <= 2 * pad
    assert int(draws.cols.min()) >= 0 and int(draws.cols.max()) <= 2 * pad
    assert bool(draws.flips.any()) == (flip and len(images) > 10)
    got = crop_flip(torch.from_numpy(images), draws.order, draws.rows, draws.cols, draws.flips, pad)
    assert got.shape == (len(images), 32, 32, 3) and got.dtype == torch.uint8
    for i in range(len(images)):
        ref = _reference_crop_flip(
            images[int(draws.order[i])], int(draws.rows[i]), int(draws.cols[i]), bool(draws.flips[i]), pad
        )
        np.testing.assert_array_equal(got[i].numpy(), ref)


def test_flip_mirrors_and_crop_stays_within_the_padding(images: np.ndarray) -> None:
    x = torch.from_numpy(images[:4])
    idx = torch.arange(4)
    zero = torch.zeros(4, dtype=torch.int64)
    centred = torch.full((4,), 4)
    mirrored = crop_flip(x, idx, centred, centred, torch.ones(4, dtype=torch.bool), pad=4)
    np.testing.assert_array_equal(mirrored.numpy(), images[:4, :, ::-1])  # centre crop + flip = a mirror image
    same = crop_flip(x, idx, centred, centred, torch.zeros(4, dtype=torch.bool), pad=4)
    np.testing.assert_array_equal(same.numpy(), images[:4])
    # The top-left-most crop: 4 zero rows and columns of padding, then the image shifted down and right.
    corner = crop_flip(x, idx, zero, zero, torch.zeros(4, dtype=torch.bool), pad=4).numpy()
    assert not corner[:, :4].any() and not corner[:, :, :4].any()
    np.testing.assert_array_equal(corner[:, 4:, 4:], images[:4, :28, :28])
    # The bottom-right-most crop, mirrored: the padding ends up on the left after the flip.
    far = torch.full((4,), 8)
    corner = crop_flip(x, idx, far, far, torch.ones(4, dtype=torch.bool), pad=4).numpy()
    assert not corner[:, 28:].any() and not corner[:, :, :4].any()
    np.testing.assert_array_equal(corner[:, :28, 4:], images[:4, 4:, 4:][:, :, ::-1])


@pytest.mark.parametrize("arch", [ARCH, "shufflenet_v1_g3_1.0x"])  # CIFAR mean/std (RGB); official BGR 0..255
def test_normalisation_equals_the_exporters_preprocessing(images: np.ndarray, arch: str) -> None:
    prep = get_variant(arch).preprocessing
    want = np.stack([normalize(img, prep) for img in images[:8]])
    for channels_last in (False, True):
        got = normalize_batch(torch.from_numpy(images[:8]), prep, channels_last)
        assert got.dtype == torch.float32 and got.shape == (8, 3, 32, 32)
        assert got.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        assert torch.equal(got, torch.from_numpy(want))  # bit for bit, not approximately
    assert torch.equal(to_input_batch(images[:8], prep), torch.from_numpy(want))


def test_draws_are_reproducible_from_the_seed() -> None:
    a = draw_epoch(np.random.default_rng(3), 100, 32, 4, True, CPU)
    b = draw_epoch(np.random.default_rng(3), 100, 32, 4, True, CPU)
    c = draw_epoch(np.random.default_rng(4), 100, 32, 4, True, CPU)
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("order", "rows", "cols", "flips"))
    assert not torch.equal(a.order, c.order)


def test_cli_device_cpu_trains_a_few_steps_on_real_images(cifar_subset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.pt"
    proc = run_train_cli("--device", "cpu", "--arch", ARCH, "--data", str(cifar_subset), "--val", str(cifar_subset),
                         "--limit", "40", "--batch-size", "10", "--epochs", "2", "--max-steps", "3", "--threads", "1",
                         "--cache", str(tmp_path / "cache"), "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "training shufflenet_v1_g3_0.25x_cifar on CPU" in proc.stderr
    saved = torch.load(out, weights_only=False)
    assert saved["step"] == 3 and saved["config"]["device"] == "cpu" and saved["hardware"].startswith("CPU")
    assert saved["history"][0]["test_acc"] is not None
    assert all(v.device.type == "cpu" for v in saved["state_dict"].values())
    _, variant, ckpt = load_model(out)
    assert variant.name == ARCH and ckpt.source_format == "shufflenet-mobile"


def test_limit_keeps_every_class(cifar_subset: Path, tmp_path: Path) -> None:
    data = load_image_folder(cifar_subset, (32, 32), tmp_path / "cache", limit=20)
    assert len(data) == 20 and np.bincount(data.labels).tolist() == [2] * 10


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: --device cuda is valid here")
def test_cli_device_cuda_without_cuda_is_one_line(cifar_subset: Path, tmp_path: Path) -> None:
    proc = run_train_cli("--device", "cuda", "--arch", ARCH, "--data", str(cifar_subset),
                         "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "x.pt"))  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --device cuda: torch ") and "--device cpu" in lines[0]
    assert not (tmp_path / "cache").exists() and not (tmp_path / "x.pt").exists()  # nothing decoded or written
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    assert resolve_device("auto") == CPU


def test_cli_resume_continues_exactly(cifar_subset: Path, tmp_path: Path) -> None:
    common = ["--device", "cpu", "--arch", ARCH, "--data", str(cifar_subset), "--batch-size", "30", "--epochs", "2",
              "--threads", "1", "--seed", "5", "--cache", str(tmp_path / "cache")]  # fmt: skip
    straight, split = tmp_path / "straight.pt", tmp_path / "split.pt"
    assert run_train_cli(*common, "--out", str(straight)).returncode == 0
    assert run_train_cli(*common, "--out", str(split), "--max-steps", "2").returncode == 0  # 2 steps: one epoch
    assert torch.load(split, weights_only=False)["epoch"] == 1
    proc = run_train_cli(*common, "--out", str(split), "--resume")
    assert proc.returncode == 0 and "resumed" in proc.stderr
    a, b = (torch.load(p, weights_only=False) for p in (straight, split))
    assert b["epoch"] == 2 and [e["epoch"] for e in b["history"]] == [1, 2]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_data_parallel_cpu_workers_still_train(cifar_subset: Path, tmp_path: Path) -> None:
    data = load_image_folder(cifar_subset, (32, 32), tmp_path / "cache")
    cfg = TrainConfig(arch=ARCH, epochs=4, batch_size=40, lr=0.01, label_smoothing=0.0, pad=0, flip=False,
                      warmup_epochs=0, weight_decay=0.0, workers=2, device="cpu")  # fmt: skip
    result = train(cfg, data, data, tmp_path / "dp.pt")
    assert [e.epoch for e in result.history] == [1, 2, 3, 4]
    assert result.history[-1].loss < result.history[0].loss, [e.loss for e in result.history]
    saved = torch.load(tmp_path / "dp.pt", weights_only=False)
    assert saved["hardware"] == "CPU, 2 process(es) x 1 thread(s)" and saved["epoch"] == 4
    assert 0.0 <= result.history[-1].test_acc <= 1.0


def test_model_card_names_the_gpu_a_run_was_trained_on(cifar_subset: Path, tmp_path: Path) -> None:
    """publish carries the run's recorded hardware into the card; CPU runs keep the CPU wording."""
    from shufflenet.model.publish import model_card, publish

    data = load_image_folder(cifar_subset, (32, 32), tmp_path / "cache")
    run = tmp_path / "run.pt"
    train(TrainConfig(arch=ARCH, epochs=1, batch_size=30, threads=1, device="cpu"), data, None, run)
    dest = tmp_path / "weights"
    dest.mkdir()
    info = publish(run, cifar_subset, dest_dir=dest)
    assert info["hardware"] == "CPU, 1 process(es) x 1 thread(s)"
    assert torch.load(dest / f"{ARCH}.pt", weights_only=False)["hardware"] == info["hardware"]
    card = model_card(info)
    assert "on a 2-core CPU machine" in card and "--workers 1" in card and "--device cuda" not in card
    gpu = model_card({**info, "hardware": "NVIDIA H200 (CUDA, bf16 autocast)"})
    assert "trained from scratch on CIFAR-10 on NVIDIA H200 (CUDA, bf16 autocast)." in gpu
    assert "--device cuda --batch-size 30 --warmup-epochs 1" in gpu and "CPU" not in gpu
