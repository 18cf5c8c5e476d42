"""Training any registry variant on an image folder: the usual small-image recipe, deterministic, resumable.

Recipe: random crop with zero padding, horizontal flip, SGD with Nesterov momentum, one-cycle-style
warm-up followed by cosine decay (per step), label smoothing, weight decay on conv/linear weights only.

Stronger recipe, each part a flag: TrivialAugment (wide) and Cutout done on the device in batches
(``augment``), an exponential moving average of the weights (``ema``, evaluated and saved beside the weights), and
``compile``: the step (forward, loss, backward) through ``torch.compile`` (CUDA graphs on CUDA) with the fused
optimiser and the learning rate held in a tensor, so changing it never re-captures a graph.

Devices: ``device="auto"`` trains on CUDA when PyTorch sees a GPU, else on the CPU. The model, the whole uint8
image set and the augmentation (``batches``) live on that device, so data loading is never the bottleneck; on
CUDA the forward pass runs under bf16 autocast (``amp``). The same code runs on the CPU, where ``workers`` > 1
adds data-parallel processes (gradients all-reduced over gloo). Seeds fix the initial weights, the data order
and every augmentation draw on any device; on CUDA, cuDNN's kernels are not bit-for-bit repeatable, so two GPU
runs agree closely but not exactly.
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
import torch.nn.functional as F
from torch import nn

from .batches import assemble_batch, draw_epoch, normalize_batch
from .checkpoint import OWN_FORMAT, checkpoint_from_payload, read_training_state
from .datasets import ImageArray
from .ema import WeightEma
from .files import atomic_output
from .finetune import init_from_checkpoint, param_groups
from .preprocessing import Preprocessing
from .recipe import resolve_recipe, warmup_steps
from .registry import get_variant
from .train_config import DEVICES, TrainConfig
from .train_guards import DivergenceGuard, check_resume

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
        return f"{torch.cuda.get_device_name(device)} (CUDA{', bf16 autocast' if amp else ', float32'})"
    return f"CPU, {world} process(es) x {threads} thread(s)"


def to_input_batch(images: np.ndarray, prep: Preprocessing, channels_last: bool = False) -> torch.Tensor:
    """N x H x W x 3 uint8 RGB -> N x 3 x H x W float32 with the variant's colour order and normalisation."""
    return normalize_batch(torch.from_numpy(np.ascontiguousarray(images)), prep, channels_last)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


BUDGET_EPOCH = 3  # the epoch after which a time budget sets the epoch count


def budget_epochs(epochs: int, done: int, elapsed: float, per_epoch: float, budget: float) -> int:
    """The most epochs (at least ``done`` + 1, at most ``epochs``) whose remaining ones, at ``per_epoch`` seconds
    each, end within ``budget`` seconds of training that already took ``elapsed``."""
    if budget <= 0 or per_epoch <= 0:
        return epochs
    fit = done + int((budget - elapsed) / per_epoch)
    return max(done + 1, min(epochs, fit))


def _autocast(device: torch.device, amp: bool) -> torch.autocast:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


@torch.no_grad()
def _logits(
    model: nn.Module, images: torch.Tensor, prep: Preprocessing, batch_size: int, channels_last: bool, amp: bool
) -> torch.Tensor:
    """Eval-mode logits (float32, on the images' device) of N x H x W x 3 uint8 images."""
    model.eval()
    device = images.device
    out = []
    for i in range(0, len(images), batch_size):
        x = normalize_batch(images[i : i + batch_size], prep, channels_last)
        with _autocast(device, amp):
            out.append(model(x).float())
    return torch.cat(out) if out else torch.zeros(0, device=device)


def evaluate_array(
    model: nn.Module,
    data: ImageArray,
    prep: Preprocessing,
    batch_size: int = 500,
    channels_last: bool = False,
    device: str | torch.device = "cpu",
    amp: bool = False,
) -> tuple[float, np.ndarray]:
    """Top-1 accuracy and the logits of every image (eval mode), computed on ``device`` (the model's)."""
    dev = torch.device(device)
    logits = _logits(model, torch.from_numpy(data.images).to(dev), prep, batch_size, channels_last, amp).cpu().numpy()
    return float((logits.argmax(1) == data.labels).mean()), logits


def save_training_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    with atomic_output(path, "wb") as f:
        torch.save(payload, f)


def train(
    cfg: TrainConfig,
    train_data: ImageArray,
    test_data: ImageArray | None,
    out: Path,
    resume: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train and write ``out`` (the last state, resumable) after every epoch; returns the per-epoch log.

    The classifier is sized for the data's classes (any variant, any class count); the automatic settings
    (batch 0, lr 0) are resolved for its size (``recipe``); a resume must match the checkpoint's variant, classes
    and recipe; a loss that turns non-finite or explodes stops the run (``TrainingDiverged``), keeping the last
    good checkpoint."""
    get_variant(cfg.arch)  # an unknown name fails here, with a suggestion
    cfg = resolve_recipe(cfg, len(train_data))
    # Read once, safely (no code runs), and handed to every rank.
    saved = read_training_state(out) if resume and out.is_file() else None
    if saved is not None:
        check_resume(saved, cfg, train_data.classes, out)
    device = resolve_device(cfg.device)  # fails here, in one line, before anything is built or spawned
    if cfg.workers > 1 and device.type != "cpu":
        raise ValueError(
            f"--workers {cfg.workers} runs data-parallel CPU processes, but the device is {device.type}; "
            "pass --device cpu with --workers, or train on the GPU with one process"
        )
    if cfg.workers <= 1:
        threads = torch.get_num_threads()
        try:
            return _train_rank(0, 1, cfg, train_data, test_data, out, saved, progress)
        finally:  # the run's --threads setting does not outlive it in the caller's process
            torch.set_num_threads(threads)
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = mp.get_context("spawn")  # no fork after OpenMP threads exist
    procs = [
        ctx.Process(target=_rank_entry, args=(r, cfg, train_data, test_data, out, saved, port), daemon=True)
        for r in range(1, cfg.workers)
    ]
    for pr in procs:
        pr.start()
    threads = torch.get_num_threads()
    try:
        result = _train_rank(0, cfg.workers, cfg, train_data, test_data, out, saved, progress, port)
    finally:
        torch.set_num_threads(threads)
        for pr in procs:
            pr.join(timeout=60)
            if pr.is_alive():
                pr.terminate()
    return result


def _rank_entry(
    rank: int, cfg: TrainConfig, train_data: ImageArray, test_data: ImageArray | None, out: Path,
    saved: dict[str, Any] | None, port: int,
) -> None:  # fmt: skip
    _train_rank(rank, cfg.workers, cfg, train_data, test_data, out, saved, None, port)


def _train_rank(
    rank: int,
    world: int,
    cfg: TrainConfig,
    train_data: ImageArray,
    test_data: ImageArray | None,
    out: Path,
    saved: dict[str, Any] | None,
    progress: Callable[[int, int, float], None] | None,
    port: int = 0,
) -> TrainResult:
    import torch.distributed as dist

    variant = get_variant(cfg.arch).with_classes(train_data.classes)
    prep = variant.preprocessing
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.set_num_threads(cfg.threads or (1 if world > 1 else torch.get_num_threads()))

    def all_sum(values: list[float]) -> list[float]:
        if world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    device = resolve_device(cfg.device)
    amp = cfg.amp and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest kernels once
    seed_everything(cfg.seed)
    model = variant.build()  # built on the CPU from the seeded generator: the same initial weights on any device
    finetune = bool(saved.get("finetune", False)) if saved is not None else False
    if cfg.init_from and saved is None:
        init = init_from_checkpoint(model, cfg.init_from, cfg.arch, train_data.classes)
        finetune = init.replaced_classifier
        if rank == 0:
            log.info("%s", init.message)
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
    # One graph shape under --compile: the last partial batch of each epoch is dropped (a different one each epoch).
    steps_per_epoch = len(train_data) // cfg.batch_size if cfg.compile else math.ceil(len(train_data) / cfg.batch_size)

    def schedule(n_epochs: int) -> tuple[int, int]:
        """Total and warm-up steps of a run of ``n_epochs`` (set again where a resume or the budget changes it)."""
        n_steps = steps_per_epoch * n_epochs
        return n_steps, warmup_steps(cfg.warmup_epochs, steps_per_epoch, n_steps)

    epochs = cfg.epochs  # may be lowered once by the time budget
    total, warmup = schedule(epochs)
    result = TrainResult(config=cfg)
    start_epoch, step, elapsed_before = 0, 0, 0.0
    rng = np.random.default_rng(cfg.seed)
    guard = DivergenceGuard(len(train_data.classes), out, cfg.lr)
    if saved is not None:
        ck = checkpoint_from_payload(saved, out)
        model.load_state_dict(ck.state_dict)
        opt.load_state_dict(saved["optimizer"])  # moves the momentum buffers to the parameters' device
        start_epoch, step = saved["epoch"], saved["step"]
        if saved["config"].get("epochs") == cfg.epochs:  # the same run continued: keep what its budget set
            epochs = saved.get("schedule_epochs", epochs)
        total, warmup = schedule(epochs)
        elapsed_before = saved.get("train_seconds", 0.0)
        rng.bit_generator.state = saved["rng"]
        torch.set_rng_state(saved["torch_rng"])
        result.history = [EpochLog(**e) for e in saved.get("history", [])]
        guard.resumed(start_epoch)
        if rank == 0:
            log.info("resumed %s at epoch %d (step %d)", out, start_epoch, step)
    else:
        saved = {}
    if lr_tensor is not None:  # a loaded optimiser state brings its own (CPU) learning-rate values
        for g in opt.param_groups:  # a fine-tuned backbone's groups hold a scaled copy of their own
            g["lr"] = lr_tensor if g.get("lr_scale", 1.0) == 1.0 else lr_tensor.clone()
    ema = WeightEma(model, cfg.ema) if cfg.ema else None
    if ema is not None and "ema_state_dict" in saved:
        ema.load_state_dict(saved["ema_state_dict"])
    step_fn = _make_step(model, cfg, device, amp)
    first_step, compile_failed = step, False
    # The whole uint8 set on the device once; every batch is gathered, augmented and normalised there.
    train_images = torch.from_numpy(np.ascontiguousarray(train_data.images)).to(device)  # gathered from flat
    train_labels = torch.from_numpy(train_data.labels).to(device)
    test_images = test_labels = None
    if test_data is not None:
        test_images = torch.from_numpy(test_data.images[rank::world]).to(device)
        test_labels = torch.from_numpy(test_data.labels[rank::world]).to(device)
    hardware = describe_device(device, amp, torch.get_num_threads(), world)
    if rank == 0:
        log.info("training %s on %s", cfg.arch, hardware)
    # A GPU runs ahead of the host: read the running loss back (a synchronisation) only every few steps there.
    report_every = 1 if device.type == "cpu" else 25
    t0 = time.time()
    epoch = start_epoch
    epoch_starts: list[float] = []
    while epoch < epochs:
        model.train()
        te = time.time()
        epoch_starts.append(te)
        draws = draw_epoch(
            rng, len(train_data), cfg.batch_size, cfg.pad, cfg.flip, device,
            trivial_augment=cfg.augment == "trivialaugment",
            cutout_hw=train_data.images.shape[1:3] if cfg.cutout else None,
        )  # fmt: skip
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        for b in range(steps_per_epoch):
            if cfg.max_steps and step >= cfg.max_steps:
                break
            # Every rank draws the whole batch's augmentation so the shared RNG stays in step; each keeps its shard.
            sl = slice(b * cfg.batch_size + rank, (b + 1) * cfg.batch_size, world)
            x, y = assemble_batch(train_images, train_labels, draws, sl, prep, cfg.pad, cfg.cutout, cfg.channels_last)
            set_lr(opt, lr_at(step, total, warmup, cfg.lr))
            opt.zero_grad(set_to_none=True)  # fresh gradients: no zero-fill kernels per step on a GPU
            try:
                loss, logits = step_fn(x, y)
                loss.backward()
            except Exception as exc:
                # A compiler failure shows in the first steps (compile, warm-up, graph capture): go on in eager mode
                # rather than lose the run; the weights are untouched until opt.step().
                if not cfg.compile or compile_failed or step > first_step + 3:
                    raise
                compile_failed = True
                log.warning("--compile failed (%s); training on without it", str(exc).strip().splitlines()[0][:200])
                torch._dynamo.reset()
                step_fn = _make_step(model, replace(cfg, compile=False), device, amp)
                opt.zero_grad(set_to_none=True)
                loss, logits = step_fn(x, y)
                loss.backward()
            if world > 1:
                flat = torch.cat([p.grad.reshape(-1) for p in params])
                dist.all_reduce(flat)
                flat /= world
                offset = 0
                for p in params:
                    n = p.numel()
                    p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
                    offset += n
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
        loss_total, correct_total, seen_total = all_sum([float(loss_sum), float(correct), seen])
        test_acc = ema_acc = None
        last = epoch + 1 == epochs or bool(cfg.max_steps and step >= cfg.max_steps)
        # The time budget is settled after the third epoch (the first compiles and warms up); that epoch's test
        # pass is timed to count the ones to come.
        budget_now = bool(cfg.time_budget) and epoch + 1 == BUDGET_EPOCH and epoch + 1 > start_epoch
        eval_seconds = 0.0
        if test_images is not None and test_labels is not None:
            if (epoch + 1) % cfg.eval_every == 0 or last or budget_now:
                tv = time.time()
                test_acc = _accuracy(model, test_images, test_labels, prep, cfg.channels_last, amp, all_sum)
                if ema is not None:
                    ema_acc = _accuracy(ema.module, test_images, test_labels, prep, cfg.channels_last, amp, all_sum)
                eval_seconds = time.time() - tv
        entry = EpochLog(
            epoch=epoch + 1,
            loss=loss_total / max(seen_total, 1),
            train_acc=correct_total / max(seen_total, 1),
            test_acc=test_acc,
            seconds=time.time() - te,
            lr=lr_at(step - 1, total, warmup, cfg.lr),
            ema_test_acc=ema_acc,
        )
        guard.check(entry.loss, f"epoch {entry.epoch}")  # every rank sees the same all-reduced loss
        result.history.append(entry)
        if rank == 0:
            log.info(
                "epoch %d/%d loss %.4f train %.4f test %s%s %.1fs",
                entry.epoch, epochs, entry.loss, entry.train_acc,
                "-" if test_acc is None else f"{test_acc:.4f}",
                "" if ema_acc is None else f" ema {ema_acc:.4f}", entry.seconds,
            )  # fmt: skip
        if rank == 0:
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
            fit = int(all_sum([float(fit) if rank == 0 else 0.0])[0])  # every rank follows rank 0's clock
            if fit < epochs and rank == 0:
                log.info(
                    "time budget %.0f s: %d epochs at %.2f s do not fit; training %d (the schedule ends there)",
                    cfg.time_budget, epochs, per_epoch, fit,
                )  # fmt: skip
            epochs = fit
            total, warmup = schedule(epochs)
        if world > 1:
            dist.barrier()
        if cfg.max_steps and step >= cfg.max_steps:
            break
        epoch += 1
    if world > 1:
        dist.destroy_process_group()
    result.seconds = elapsed_before + time.time() - t0
    accs = [e.test_acc for e in result.history if e.test_acc is not None]
    result.best_test_acc = max(accs) if accs else None
    return result


def make_optimizer(
    groups: list[dict[str, Any]], cfg: TrainConfig, device: torch.device
) -> tuple[torch.optim.SGD, torch.Tensor | None]:
    """SGD with Nesterov momentum over the parameter groups. With ``compile``: the fused optimiser (one kernel for
    the whole update) and the learning rate in a tensor on the device (returned), written in place every step,
    never read back. Without it: the classic optimiser, bit-identical to earlier runs."""
    lr_tensor = torch.tensor(cfg.lr, dtype=torch.float32, device=device) if cfg.compile else None
    opt = torch.optim.SGD(
        groups,
        lr=lr_tensor if lr_tensor is not None else cfg.lr,
        momentum=cfg.momentum,
        nesterov=True,
        **({"fused": True} if cfg.compile else {}),
    )
    return opt, lr_tensor


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """The step's learning rate in every group (a fine-tuned backbone's scaled by its ``lr_scale``); written in
    place where it is a tensor (``make_optimizer`` with ``compile``), so a captured graph and the fused optimiser
    read the new value."""
    for g in opt.param_groups:
        value = lr * g.get("lr_scale", 1.0)
        if isinstance(g["lr"], torch.Tensor):
            g["lr"].fill_(value)
        else:
            g["lr"] = value


def _make_step(
    model: nn.Module, cfg: TrainConfig, device: torch.device, amp: bool
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Forward pass and loss (loss, logits); the backward pass is the caller's. Under ``compile`` the whole of it,
    backward included, is one compiled graph: on CUDA replayed as a CUDA graph ("reduce-overhead")."""

    def forward_loss(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with _autocast(device, amp):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        return loss, logits

    if not cfg.compile:
        return forward_loss
    cuda = device.type == "cuda"
    compiled = torch.compile(
        forward_loss, backend=cfg.compile_backend, mode="reduce-overhead" if cuda else None, dynamic=False
    )

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if cuda:
            # A new iteration: outputs of the previous replay may be overwritten now (they were read already).
            torch.compiler.cudagraph_mark_step_begin()
        return compiled(x, y)

    return step


def _accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    prep: Preprocessing,
    channels_last: bool,
    amp: bool,
    all_sum: Callable[[list[float]], list[float]],
) -> float:
    """Top-1 of eval-mode ``model`` on this rank's test shard, summed over the ranks."""
    logits = _logits(model, images, prep, 1000, channels_last, amp)
    hits = float((logits.argmax(1) == labels).sum()) if len(labels) else 0.0
    hits, count = all_sum([hits, len(labels)])
    return hits / count


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
