"""Training any registry variant on an image folder: the usual small-image recipe, deterministic, resumable.

Recipe: random crop with zero padding, horizontal flip, SGD with Nesterov momentum, one-cycle-style
warm-up followed by cosine decay (per step), label smoothing, weight decay on conv/linear weights only.

Stronger recipe, each part a flag: TrivialAugment (wide) and Cutout done on the device in batches
(``augment``), an exponential moving average of the weights (``ema``, evaluated and saved beside the weights), and
``compile``: the step (forward, loss, backward) through ``torch.compile`` (CUDA graphs on CUDA) with the fused
optimiser and the learning rate held in a tensor, so changing it never re-captures a graph.

Data: a folder small enough is decoded once into a uint8 array that lives on the training device with its
augmentation (``batches``), so data loading is never the bottleneck; a bigger one (ImageNet) is streamed, each
image decoded and augmented by the official ImageNet transforms in DataLoader worker processes (``streaming``).

Devices and processes: ``device="auto"`` trains on CUDA when PyTorch sees a GPU, else on the CPU; on CUDA the
forward pass runs under bf16 autocast (``amp``). Under ``torchrun`` (or ``workers`` > 1, started by torchrun's
engine: ``launch``) every process trains its share of each global batch with DistributedDataParallel, NCCL on
GPUs and gloo on CPUs (``distributed``); rank 0 alone logs and writes the checkpoint, which any number of
processes can resume. Seeds fix the initial weights, the data order and every augmentation draw on any device
and any number of processes; on CUDA, cuDNN's kernels are not bit-for-bit repeatable, so two GPU runs agree
closely but not exactly.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import distributed
from .bn_recalibration import recalibrate_batchnorm
from .checkpoint import OWN_FORMAT, checkpoint_from_payload, read_training_state
from .ema import WeightEma
from .files import atomic_output
from .finetune import init_from_checkpoint, param_groups
from .launch import check_global_batch
from .recipe import resolve_recipe, warmup_steps
from .registry import get_variant
from .streaming import FolderIndex
from .sync_batchnorm import convert_sync_batchnorm
from .train_config import DEVICES, TrainConfig
from .train_guards import DivergenceGuard, check_resume
from .train_steps import (
    TrainData,
    autocast_for,
    lr_at,
    make_optimizer,
    make_step,
    set_lr,
    test_pass,
    training_batches,
)

log = logging.getLogger(__name__)


@dataclass
class EpochLog:
    epoch: int
    loss: float
    train_acc: float
    test_acc: float | None
    seconds: float
    lr: float
    ema_test_acc: float | None = None  # the weights' moving average, where the run keeps one


@dataclass
class TrainResult:
    config: TrainConfig
    history: list[EpochLog] = field(default_factory=list)
    seconds: float = 0.0
    best_test_acc: float | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when PyTorch sees a GPU, else CPU; ``cuda`` without one is a one-line error."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        why = "was built without CUDA" if torch.version.cuda is None else "sees no CUDA GPU"
        raise ValueError(
            f"--device cuda: torch {torch.__version__} {why}; use --device cpu (or auto) here, or a machine with a GPU"
        )
    return torch.device(name)


def describe_device(device: torch.device, amp: bool, threads: int, world: int) -> str:
    """The hardware a run used, for the checkpoint and the model card."""
    if device.type == "cuda":
        gpus = f"{world} x " if world > 1 else ""
        return f"{gpus}{torch.cuda.get_device_name(device)} (CUDA{', bf16 autocast' if amp else ', float32'})"
    return f"CPU, {world} process(es) x {threads} thread(s)"


BUDGET_EPOCH = 3  # the epoch after which a time budget sets the epoch count


def budget_epochs(epochs: int, done: int, elapsed: float, per_epoch: float, budget: float) -> int:
    """The most epochs (at least ``done`` + 1, at most ``epochs``) whose remaining ones, at ``per_epoch`` seconds
    each, end within ``budget`` seconds of training that already took ``elapsed``."""
    if budget <= 0 or per_epoch <= 0:
        return epochs
    fit = done + int((budget - elapsed) / per_epoch)
    return max(done + 1, min(epochs, fit))


def save_training_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    with atomic_output(path, "wb") as f:
        torch.save(payload, f)


def train(
    cfg: TrainConfig,
    train_data: TrainData,
    test_data: TrainData | None,
    out: Path,
    resume: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train and write ``out`` (the last state, resumable) after every epoch; returns the per-epoch log.

    ``train_data`` is a decoded image array (``datasets.load_image_folder``) or a folder index whose images are
    decoded on the fly (``streaming.index_image_folder``). Inside a torchrun process group every process calls
    this with the same arguments and trains its share (DDP); ``cfg.workers`` > 1 outside one starts that many
    processes through torchrun's engine (``launch``). The classifier is sized for the data's classes (any variant,
    any class count); the automatic settings (batch 0, lr 0) are resolved for its size (``recipe``); a resume must
    match the checkpoint's variant, classes and recipe; a loss that turns non-finite or explodes stops the run
    (``TrainingDiverged``), keeping the last good checkpoint."""
    get_variant(cfg.arch)  # an unknown name fails here, with a suggestion
    cfg = resolve_recipe(cfg, len(train_data))
    cfg = replace(cfg, data_mode="stream" if isinstance(train_data, FolderIndex) else "memory")
    if cfg.total_steps:  # a run counted in steps has the epochs they take (the last one may end early)
        per_epoch = len(train_data) // cfg.batch_size if cfg.compile else math.ceil(len(train_data) / cfg.batch_size)
        cfg = replace(cfg, epochs=math.ceil(cfg.total_steps / max(1, per_epoch)))
    device = resolve_device(cfg.device)  # fails here, in one line, before anything is built or spawned
    ctx = distributed.current()
    check_global_batch(cfg.batch_size, max(ctx.world, cfg.workers))
    if ctx.world == 1 and cfg.workers > 1:
        return _launch_workers(cfg, train_data, test_data, out, resume)
    saved = _read_resume_state(ctx, out) if resume else None
    if saved is not None:
        check_resume(saved, cfg, train_data.classes, out)
    if device.type == "cuda" and ctx.local_world > torch.cuda.device_count():
        raise ValueError(
            f"{ctx.local_world} processes on this node but {torch.cuda.device_count()} CUDA GPU(s); start one "
            "process per GPU (torchrun --nproc-per-node)"
        )
    threads = torch.get_num_threads()
    try:
        return _train_rank(ctx, cfg, train_data, test_data, out, saved, progress if ctx.is_main else None)
    finally:  # the run's --threads setting does not outlive it in the caller's process
        torch.set_num_threads(threads)


def _read_resume_state(ctx: distributed.DistContext, out: Path) -> dict[str, Any] | None:
    """The checkpoint to resume, read safely by rank 0 and handed to every process (nodes need no shared disk)."""
    return ctx.on_main(lambda: read_training_state(out) if out.is_file() else None)


def _launch_workers(cfg: TrainConfig, train_data: TrainData, test_data: TrainData | None, out: Path, resume: bool
                    ) -> TrainResult:  # fmt: skip
    """``cfg.workers`` processes on this machine, started by torchrun's engine, each running ``train``."""
    from .launch import LaunchSpec, launch

    answers = launch(LaunchSpec(nproc_per_node=cfg.workers), _rank_entry, [cfg, train_data, test_data, out, resume])
    errors = [a[1] for a in answers.values() if a[0] == "error"]
    if errors:  # the cause, rather than another process's "lost a peer"
        raise next((e for e in errors if not isinstance(e, distributed.PeerLost)), errors[0])
    return answers[0][1]


def _rank_entry(cfg: TrainConfig, train_data: TrainData, test_data: TrainData | None, out: Path, resume: bool
                ) -> tuple[str, Any]:  # fmt: skip
    """One process of ``_launch_workers``: join the group, train; the result or the error goes back."""
    import pickle

    try:
        distributed.init_from_env(resolve_device(cfg.device).type, cfg.dist_timeout)
        try:
            return "ok", train(cfg, train_data, test_data, out, resume)
        finally:
            distributed.shutdown()
    except Exception as e:
        try:
            pickle.dumps(e)
        except Exception:
            e = RuntimeError(distributed.first_line(e))
        return "error", e


def _rank_device(device: torch.device, ctx: distributed.DistContext) -> torch.device:
    """A process's own GPU in a multi-GPU run (its local rank), else ``device``."""
    if device.type == "cuda" and ctx.world > 1:
        return torch.device("cuda", ctx.local_rank)
    return device


def _train_rank(
    ctx: distributed.DistContext,
    cfg: TrainConfig,
    train_data: TrainData,
    test_data: TrainData | None,
    out: Path,
    saved: dict[str, Any] | None,
    progress: Callable[[int, int, float], None] | None,
) -> TrainResult:
    variant = get_variant(cfg.arch).with_classes(train_data.classes)
    prep = variant.preprocessing
    world = ctx.world
    torch.set_num_threads(cfg.threads or (1 if ctx.local_world > 1 else torch.get_num_threads()))
    device = _rank_device(resolve_device(cfg.device), ctx)
    amp = cfg.amp and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest kernels once
    seed_everything(cfg.seed)
    model = variant.build()  # built on the CPU from the seeded generator: the same initial weights on any device
    finetune = bool(saved.get("finetune", False)) if saved is not None else False
    if cfg.init_from and saved is None:
        init = init_from_checkpoint(model, cfg.init_from, cfg.arch, train_data.classes)
        finetune = init.replaced_classifier
        if ctx.is_main:
            log.info("%s", init.message)
    if cfg.sync_bn and world > 1:
        model = convert_sync_batchnorm(model, device)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    groups = param_groups(model, cfg.weight_decay, cfg.backbone_lr_scale if finetune else 1.0, cfg.freeze_backbone)
    params = [p for p in model.parameters() if p.requires_grad]
    opt, lr_tensor = make_optimizer(groups, cfg, device)
    if cfg.compile and len(train_data) < cfg.batch_size:
        raise ValueError(
            f"--compile drops each epoch's last partial batch, and {len(train_data)} images do not fill one batch "
            f"of {cfg.batch_size}; pass a smaller --batch-size or leave out --compile"
        )
    rng = np.random.default_rng(cfg.seed)
    # One graph shape under --compile: the last partial batch of each epoch is dropped (a different one each epoch).
    source = training_batches(cfg, train_data, rng, prep, device, ctx)
    steps_per_epoch = source.steps_per_epoch

    def schedule(n_epochs: int) -> tuple[int, int]:
        """Total and warm-up steps of a run of ``n_epochs`` (set again where a resume or the budget changes it)."""
        n_steps = steps_per_epoch * n_epochs
        if cfg.total_steps:
            n_steps = min(n_steps, cfg.total_steps)
        return n_steps, warmup_steps(cfg.warmup_epochs, steps_per_epoch, n_steps, cfg.schedule)

    # may be lowered once by the time budget
    epochs = math.ceil(cfg.total_steps / steps_per_epoch) if cfg.total_steps else cfg.epochs
    total, warmup = schedule(epochs)
    result = TrainResult(config=cfg)
    start_epoch, step, elapsed_before = 0, 0, 0.0
    guard = DivergenceGuard(len(train_data.classes), out, cfg.lr)
    if saved is not None:
        ck = checkpoint_from_payload(saved, out)
        model.load_state_dict(ck.state_dict)
        opt.load_state_dict(saved["optimizer"])  # moves the momentum buffers to the parameters' device
        start_epoch, step = saved["epoch"], saved["step"]
        same_run = all(saved["config"].get(k, 0) == getattr(cfg, k) for k in ("epochs", "total_steps"))
        if same_run:  # the same run continued: keep what its budget set
            epochs = saved.get("schedule_epochs", epochs)
        total, warmup = schedule(epochs)
        elapsed_before = saved.get("train_seconds", 0.0)
        rng.bit_generator.state = saved["rng"]
        torch.set_rng_state(saved["torch_rng"])
        result.history = [EpochLog(**e) for e in saved.get("history", [])]
        guard.resumed(start_epoch)
        if ctx.is_main:
            log.info("resumed %s at epoch %d (step %d)", out, start_epoch, step)
    else:
        saved = {}
    if lr_tensor is not None:  # a loaded optimiser state brings its own (CPU) learning-rate values
        for g in opt.param_groups:  # a fine-tuned backbone's groups hold a scaled copy of their own
            g["lr"] = lr_tensor if g.get("lr_scale", 1.0) == 1.0 else lr_tensor.clone()
    ema = WeightEma(model, cfg.ema) if cfg.ema else None
    if ema is not None and "ema_state_dict" in saved:
        ema.load_state_dict(saved["ema_state_dict"])
    # Data-parallel: DDP all-reduces (averages) the gradients during the backward pass; the unwrapped ``model``
    # is what is evaluated and saved.
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    step_fn = make_step(net, cfg, device, amp)
    first_step, compile_failed = step, False
    tester = test_pass(cfg, test_data, prep, device, ctx)
    hardware = describe_device(device, amp, torch.get_num_threads(), world)
    if ctx.is_main:
        mode = "streamed" if cfg.data_mode == "stream" else "in-memory"
        log.info("training %s on %s (%s data)", cfg.arch, hardware, mode)
    # A GPU runs ahead of the host: read the running loss back (a synchronisation) only every few steps there.
    report_every = 1 if device.type == "cpu" else 25
    t0 = time.time()
    epoch = start_epoch
    epoch_starts: list[float] = []
    try:
        while epoch < epochs:
            model.train()
            te = time.time()
            epoch_starts.append(te)
            batches = source.epoch(epoch)
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            seen = 0
            for b in range(steps_per_epoch):
                if (cfg.max_steps and step >= cfg.max_steps) or step >= total:
                    break
                x, y = next(batches)
                set_lr(opt, lr_at(step, total, warmup, cfg.lr, cfg.schedule))
                opt.zero_grad(set_to_none=True)  # fresh gradients: no zero-fill kernels per step on a GPU
                try:
                    loss, logits = step_fn(x, y)
                    loss.backward()
                except Exception as exc:
                    # A compiler failure shows in the first steps (compile, warm-up, graph capture): go on in eager
                    # mode rather than lose the run; the weights are untouched until opt.step().
                    if not cfg.compile or compile_failed or step > first_step + 3 or distributed.is_peer_failure(exc):
                        raise
                    compile_failed = True
                    log.warning("--compile failed (%s); training on without it", distributed.first_line(exc))
                    torch._dynamo.reset()
                    step_fn = make_step(net, replace(cfg, compile=False), device, amp)
                    opt.zero_grad(set_to_none=True)
                    loss, logits = step_fn(x, y)
                    loss.backward()
                if cfg.clip_grad:
                    torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
                opt.step()
                if ema is not None:
                    ema.update()
                step += 1
                loss_sum += loss.detach().double() * len(y)
                correct += (logits.detach().argmax(1) == y).sum()
                seen += len(y)
                if progress and ((b + 1) % report_every == 0 or b + 1 == steps_per_epoch):
                    progress(b + 1, steps_per_epoch, float(loss_sum) / seen)
                if world == 1 and (b + 1) % report_every == 0:
                    guard.check(float(loss_sum) / seen, f"epoch {epoch + 1}, step {b + 1}")
            batches.close()  # a stream's loader workers stop handing out this epoch's images
            loss_total, correct_total, seen_total = ctx.all_sum([float(loss_sum), float(correct), seen])
            stopped = bool(cfg.max_steps and step >= cfg.max_steps)
            last = epoch + 1 == epochs or stopped or step >= total
            recalibrated = False
            if cfg.bn_recalibration and last and step >= total:
                # The schedule's end: one more epoch of BatchNorm statistics (weights frozen) before the test pass.
                tb = time.time()
                n_bn = recalibrate_batchnorm(
                    [model] + ([ema.module] if ema is not None else []),
                    (x for x, _ in source.epoch(epoch + 1)), autocast_for(device, amp), world,
                )  # fmt: skip
                recalibrated = True
                if ctx.is_main:
                    log.info("BatchNorm statistics: the average of %d batches (%.1fs)", n_bn, time.time() - tb)
            test_acc = ema_acc = None
            # The time budget is settled after the third epoch (the first compiles and warms up); that epoch's test
            # pass is timed to count the ones to come.
            budget_now = bool(cfg.time_budget) and epoch + 1 == BUDGET_EPOCH and epoch + 1 > start_epoch
            eval_seconds = 0.0
            if tester is not None and ((epoch + 1) % cfg.eval_every == 0 or last or budget_now):
                tv = time.time()
                test_acc = tester(model, amp)
                if ema is not None:
                    ema_acc = tester(ema.module, amp)
                eval_seconds = time.time() - tv
            entry = EpochLog(
                epoch=epoch + 1,
                loss=loss_total / max(seen_total, 1),
                train_acc=correct_total / max(seen_total, 1),
                test_acc=test_acc,
                seconds=time.time() - te,
                lr=lr_at(step - 1, total, warmup, cfg.lr, cfg.schedule),
                ema_test_acc=ema_acc,
            )
            guard.check(entry.loss, f"epoch {entry.epoch}")  # every rank sees the same all-reduced loss
            result.history.append(entry)
            if ctx.is_main:
                log.info(
                    "epoch %d/%d loss %.4f train %.4f test %s%s %.1fs",
                    entry.epoch, epochs, entry.loss, entry.train_acc,
                    "-" if test_acc is None else f"{test_acc:.4f}",
                    "" if ema_acc is None else f" ema {ema_acc:.4f}", entry.seconds,
                )  # fmt: skip
                save_training_checkpoint(
                    out,
                    {
                        "format": OWN_FORMAT,
                        "arch": cfg.arch,
                        # CPU tensors in the ordinary layout: the file reads the same whatever device trained it
                        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                        "optimizer": _to_cpu(opt.state_dict()),
                        "epoch": epoch + 1,
                        "step": step,
                        "rng": rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(),
                        "config": asdict(cfg),
                        "schedule_epochs": epochs,  # cfg.epochs, or fewer where the time budget lowered it
                        "history": [asdict(e) for e in result.history],
                        "train_seconds": elapsed_before + time.time() - t0,
                        "classes": train_data.classes,
                        "hardware": hardware,
                        "finetune": finetune,
                        "processes": world,
                        "bn_recalibrated": recalibrated,
                        **({"ema_state_dict": ema.state_dict()} if ema is not None else {}),
                    },
                )
            guard.saved(entry.epoch)
            if budget_now and len(epoch_starts) >= 2:
                # Steady speed from the wall clock of the last two epochs, checkpoints included, test pass excluded;
                # each later test pass adds its share; 3 % margin for the noise.
                per_epoch = 1.03 * (time.time() - epoch_starts[-2] - eval_seconds) / 2 + eval_seconds / cfg.eval_every
                elapsed = elapsed_before + time.time() - t0 + eval_seconds  # the final test pass is still to come
                fit = budget_epochs(epochs, epoch + 1, elapsed, per_epoch, cfg.time_budget)
                fit = int(ctx.all_sum([float(fit) if ctx.is_main else 0.0])[0])  # every rank follows rank 0's clock
                if fit < epochs and ctx.is_main:
                    log.info(
                        "time budget %.0f s: %d epochs at %.2f s do not fit; training %d (the schedule ends there)",
                        cfg.time_budget, epochs, per_epoch, fit,
                    )  # fmt: skip
                epochs = fit
                total, warmup = schedule(epochs)
            ctx.barrier()  # no process runs ahead of the checkpoint
            if last:
                break
            epoch += 1
    except Exception as e:
        if world > 1 and distributed.is_peer_failure(e):
            raise distributed.PeerLost(
                f"another process of the run stopped ({distributed.first_line(e)}) at epoch {epoch + 1}, step "
                f"{step}; {guard.kept()}; --resume continues from it"
            ) from None
        raise
    result.seconds = elapsed_before + time.time() - t0
    accs = [e.test_acc for e in result.history if e.test_acc is not None]
    result.best_test_acc = max(accs) if accs else None
    return result


def _to_cpu(obj: Any) -> Any:
    """A state dict (nested dicts/lists of tensors) with every tensor copied to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def export_weights(train_ckpt: Path, dest: Path, extra: dict[str, Any] | None = None) -> None:
    """Strip optimizer state from a training checkpoint: the small file that ships in the package. A run that kept
    a moving average of its weights (``--ema``) ships the average: that is what its recipe trains for."""
    saved = read_training_state(train_ckpt)
    payload = {k: saved[k] for k in ("format", "arch", "state_dict", "config", "history", "train_seconds", "classes")}
    if "hardware" in saved:
        payload["hardware"] = saved["hardware"]
    if "ema_state_dict" in saved:
        payload["state_dict"] = saved["ema_state_dict"]
        payload["weights"] = f"exponential moving average of the weights (decay {saved['config']['ema']})"
    payload["state_dict"] = {k: v.clone() for k, v in payload["state_dict"].items()}
    payload.update(extra or {})
    save_training_checkpoint(dest, payload)
