"""The stronger recipe's parts on the CPU: --compile gives the eager loss curve, the weights' moving average,
TrivialAugment + Cutout in a run, test passes every N epochs, the time budget, and their one-line errors."""

from __future__ import annotations

import logging
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from shufflenet.model import get_variant
from shufflenet.model.batches import assemble_batch, draw_epoch
from shufflenet.model.datasets import ImageArray, load_image_folder
from shufflenet.model.ema import WeightEma
from shufflenet.model.finetune import param_groups
from shufflenet.model.train_steps import lr_at, make_optimizer, make_step, set_lr
from shufflenet.model.training import TrainConfig, budget_epochs, train
from torch.utils._python_dispatch import TorchDispatchMode
from train_cli import run_train_cli

ARCH = "shufflenet_v1_g3_0.25x_cifar"


@pytest.fixture(scope="module")
def data(cifar_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> ImageArray:
    return load_image_folder(cifar_subset, (32, 32), tmp_path_factory.mktemp("cache"))


def _cfg(**kw: object) -> TrainConfig:
    base = TrainConfig(arch=ARCH, epochs=1, batch_size=15, lr=0.05, threads=1, device="cpu", seed=2)
    return replace(base, **kw)


def _losses(cfg: TrainConfig, data: ImageArray, out: Path) -> tuple[list[float], dict[str, torch.Tensor]]:
    """Per-step losses (from the running means the progress callback gets on the CPU) and the final weights."""
    running: list[float] = []
    train(cfg, data, None, out, progress=lambda i, n, loss: running.append(loss))
    steps = [running[0]] + [(i + 1) * running[i] - i * running[i - 1] for i in range(1, len(running))]
    return steps, torch.load(out, weights_only=False)["state_dict"]


def test_compile_gives_the_eager_loss_curve(data: ImageArray, tmp_path: Path) -> None:
    # aot_eager: TorchDynamo's capture and AOTAutograd's joint graph without code generation (inductor's C++
    # compile takes minutes on a CPU); the fused optimiser and the tensor learning rate are the same as on CUDA.
    cfg = _cfg(max_steps=4, augment="trivialaugment", cutout=8)
    eager, w_eager = _losses(cfg, data, tmp_path / "eager.pt")
    compiled, w_compiled = _losses(replace(cfg, compile=True, compile_backend="aot_eager"), data, tmp_path / "c.pt")
    assert len(eager) == len(compiled) == 4
    np.testing.assert_allclose(compiled, eager, rtol=1e-4)
    assert eager[0] != eager[-1]  # the weights moved
    for k, v in w_eager.items():
        if v.is_floating_point():
            torch.testing.assert_close(w_compiled[k], v, rtol=1e-3, atol=1e-3)  # gradients of other kernels


def test_compile_drops_the_last_partial_batch(data: ImageArray, tmp_path: Path) -> None:
    out = tmp_path / "c.pt"
    train(_cfg(batch_size=25, compile=True, compile_backend="aot_eager"), data, None, out)
    assert torch.load(out, weights_only=False)["step"] == 60 // 25  # two full batches, the last 10 images dropped
    with pytest.raises(ValueError, match="do not fill one batch of 100"):
        train(_cfg(batch_size=100, compile=True, compile_backend="aot_eager"), data, None, out)


def test_a_failing_compiler_falls_back_to_eager(
    data: ImageArray, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from torch._dynamo import register_backend

    @register_backend(name="shufflenet_test_failing")
    def failing(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]) -> None:
        raise RuntimeError("no code for this graph")

    caplog.set_level(logging.WARNING, logger="shufflenet.model.training")
    cfg = _cfg(max_steps=3)
    eager, _ = _losses(cfg, data, tmp_path / "eager.pt")
    fallback, _ = _losses(
        replace(cfg, compile=True, compile_backend="shufflenet_test_failing"), data, tmp_path / "f.pt"
    )
    assert "--compile failed" in caplog.text and "training on without it" in caplog.text
    np.testing.assert_allclose(fallback, eager, rtol=1e-4)


def test_weight_ema_follows_its_formula() -> None:
    model = get_variant(ARCH).build()
    model.train()
    ema = WeightEma(model, 0.9)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model(torch.randn(4, 3, 32, 32))  # moves the batch-norm statistics and step counters
    ema.update()
    after = model.state_dict()
    for k, v in ema.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.9 * start[k] + 0.1 * after[k])
        else:
            assert torch.equal(v, after[k])  # counters copied
    assert all(not p.requires_grad for p in ema.module.parameters())
    with pytest.raises(ValueError, match="between 0 and 1"):
        WeightEma(model, 1.0)


def test_ema_is_evaluated_saved_and_resumed_exactly(data: ImageArray, tmp_path: Path) -> None:
    cfg = _cfg(epochs=3, ema=0.9, eval_every=2, augment="trivialaugment", cutout=16)
    straight, split = tmp_path / "straight.pt", tmp_path / "split.pt"
    result = train(cfg, data, data, straight)
    # test passes at epoch 2 (every 2) and 3 (the last), for the weights and their average
    assert [e.test_acc is not None for e in result.history] == [False, True, True]
    assert [e.ema_test_acc is not None for e in result.history] == [False, True, True]
    train(replace(cfg, max_steps=4), data, data, split)  # 4 steps: one epoch and a bit, saved after epoch 1... 2
    train(cfg, data, data, split, resume=True)
    a, b = (torch.load(p, weights_only=False) for p in (straight, split))
    assert b["epoch"] == 3
    for k in a["ema_state_dict"]:
        assert torch.equal(a["ema_state_dict"][k], b["ema_state_dict"][k]), k
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    assert not all(torch.equal(a["ema_state_dict"][k], a["state_dict"][k]) for k in a["state_dict"])


def test_budget_epochs_fits_the_schedule() -> None:
    assert budget_epochs(300, 3, 60.0, 1.5, 490.0) == 3 + int(430 / 1.5)
    assert budget_epochs(300, 3, 5.0, 1.5, 490.0) == 300  # fits: unchanged
    assert budget_epochs(300, 3, 600.0, 1.5, 490.0) == 4  # already over: the next epoch ends the schedule
    assert budget_epochs(300, 3, 60.0, 1.5, 0.0) == 300  # no budget


def test_time_budget_shortens_the_schedule_and_resume_keeps_it(data: ImageArray, tmp_path: Path) -> None:
    out = tmp_path / "b.pt"
    cfg = _cfg(epochs=50, time_budget=1e-3)  # nothing fits: the schedule ends one epoch after the third
    result = train(cfg, data, None, out)
    saved = torch.load(out, weights_only=False)
    assert len(result.history) == 4 and saved["schedule_epochs"] == 4 and saved["config"]["epochs"] == 50
    steps = saved["step"]
    assert result.history[-1].lr == pytest.approx(lr_at(steps - 1, steps, 4, 0.05))  # decayed to the end
    assert result.history[-1].lr < 0.05 * 0.05
    train(cfg, data, None, out, resume=True)  # the same run continued: nothing left to do
    assert torch.load(out, weights_only=False)["epoch"] == 4


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--ema", "1.5"], "--ema 1.5: the decay lies between 0 and 1"),
        (["--eval-every", "0"], "--eval-every one >= 1"),
        (["--cutout", "-1"], "--cutout and --time-budget take a number >= 0"),
        (["--augment", "autoaugment"], "invalid choice: 'autoaugment'"),
    ],
)
def test_recipe_flags_are_checked_in_one_line(
    cifar_subset: Path, tmp_path: Path, flags: list[str], message: str
) -> None:
    proc = run_train_cli("--data", str(cifar_subset), "--out", str(tmp_path / "x.pt"), *flags)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
    assert not (tmp_path / "x.pt").exists()


def test_publish_ships_the_moving_average_and_names_the_recipe(
    cifar_subset: Path, data: ImageArray, tmp_path: Path
) -> None:
    from shufflenet.model.publish import publish

    run = tmp_path / "run.pt"
    train(_cfg(epochs=2, ema=0.9, augment="trivialaugment", cutout=16), data, None, run)
    dest = tmp_path / "weights"
    dest.mkdir()
    publish(run, cifar_subset, dest_dir=dest)
    saved = torch.load(run, weights_only=False)
    shipped = torch.load(dest / f"{ARCH}.pt", weights_only=False)
    assert all(torch.equal(shipped["state_dict"][k], v) for k, v in saved["ema_state_dict"].items())
    assert not all(torch.equal(shipped["state_dict"][k], v) for k, v in saved["state_dict"].items())
    assert "moving average" in shipped["weights"]
    card = (dest / f"{ARCH}.md").read_text()
    assert "TrivialAugment" in card and "Cutout (16-pixel square)" in card and "decay 0.9 per step" in card
    assert "--augment trivialaugment --cutout 16 --ema 0.9" in card


class _HostWaits(TorchDispatchMode):
    """Records the ops that, on a GPU, make the host wait for the device: a tensor read back as a Python number
    (``.item()``, ``float(t)``, ``if t``), a new tensor from host data (a host-to-device copy), an output whose
    size depends on the data (``nonzero``, boolean-mask indexing)."""

    WAITS = ("aten._local_scalar_dense", "aten.lift_fresh", "aten.nonzero", "aten.masked_select", "aten.unique")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        bool_index = name.startswith("aten.index.") and any(
            isinstance(t, torch.Tensor) and t.dtype == torch.bool for t in (args[1] if len(args) > 1 else [])
        )
        if name.startswith(self.WAITS) or bool_index:
            ours = [f for f in traceback.extract_stack()[:-1] if "site-packages" not in f.filename]
            self.seen.append(f"{name} at {Path(ours[-1].filename).name}:{ours[-1].lineno}")
        return func(*args, **(kwargs or {}))


def test_a_training_step_never_waits_for_the_device(data: ImageArray) -> None:
    """One step of the GPU script's recipe (TrivialAugment, Cutout, the fused optimiser with its learning rate in a
    tensor, the weights' average), made of the training loop's own pieces, issues no op that would make a GPU
    host wait: on CUDA the host queues step after step. (The compiled forward and backward are one CUDA graph
    there; here they run eagerly, which checks the model's own ops too.)"""
    cfg = _cfg(compile=True, augment="trivialaugment", cutout=16, ema=0.999, batch_size=30)
    device = torch.device("cpu")
    prep = get_variant(ARCH).preprocessing
    model = get_variant(ARCH).with_classes(data.classes).build().to(memory_format=torch.channels_last)
    opt, lr_tensor = make_optimizer(param_groups(model, cfg.weight_decay, 1.0, False), cfg, device)
    ema = WeightEma(model, cfg.ema)
    forward_loss = make_step(model, replace(cfg, compile=False), device, amp=False)
    images, labels = torch.from_numpy(data.images), torch.from_numpy(data.labels)
    draws = draw_epoch(np.random.default_rng(0), len(data), cfg.batch_size, cfg.pad, cfg.flip, device,
                       trivial_augment=True, cutout_hw=(32, 32))  # fmt: skip
    assert draws.ta_ops is not None and set(draws.ta_ops.tolist()) >= {10, 11, 12, 13}  # the table-based ops drawn

    def one_step(b: int) -> torch.Tensor:
        sl = slice(b * cfg.batch_size, (b + 1) * cfg.batch_size)
        x, y = assemble_batch(images, labels, draws, sl, prep, cfg.pad, cfg.cutout, cfg.channels_last)
        set_lr(opt, 0.01 * (b + 1))
        opt.zero_grad(set_to_none=True)
        loss, _ = forward_loss(x, y)
        loss.backward()
        opt.step()
        ema.update()
        return loss

    one_step(0)  # the first step makes what is made once (per-device constants, optimiser state)
    with _HostWaits() as spy:
        one_step(1)
    assert spy.seen == [], spy.seen
    assert lr_tensor is not None and float(lr_tensor) == pytest.approx(0.02)
