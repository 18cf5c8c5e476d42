"""Training any registry variant on an image folder: the usual small-image recipe, deterministic, resumable.

Recipe: random crop with zero padding, horizontal flip, SGD with Nesterov momentum, one-cycle-style
warm-up followed by cosine decay (per step), label smoothing, weight decay on conv/linear weights only.
Augmentation runs on whole batches of the cached uint8 array, so data loading is never the bottleneck and
both cores go to the network.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import OWN_FORMAT, CheckpointError, load_model, read_checkpoint
from .datasets import ImageArray
from .files import file_mode
from .preprocessing import Preprocessing, normalize_hwc
from .registry import get_variant

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    arch: str
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_epochs: float = 1.0
    pad: int = 4
    flip: bool = True
    seed: int = 0
    threads: int = 0  # 0: every core
    max_steps: int = 0  # 0: no limit (tests use a few steps)
    channels_last: bool = True
    # Data-parallel processes (gradients all-reduced over gloo). Two single-thread processes beat one
    # two-thread process on a 2-core machine, and they do not collapse when other work shares the cores.
    workers: int = 1
    # Start from these weights (same variant) with a fresh schedule: a second cosine cycle ("warm restart").
    init_from: str = ""


@dataclass
class EpochLog:
    epoch: int
    loss: float
    train_acc: float
    test_acc: float | None
    seconds: float
    lr: float


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


def to_input_batch(images: np.ndarray, prep: Preprocessing, channels_last: bool = False) -> torch.Tensor:
    """N x H x W x 3 uint8 RGB -> N x 3 x H x W float32 with the variant's colour order and normalisation."""
    x = torch.from_numpy(normalize_hwc(images, prep)).permute(0, 3, 1, 2)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def augment(images: np.ndarray, rng: np.random.Generator, pad: int, flip: bool) -> np.ndarray:
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ys = rng.integers(0, 2 * pad + 1, n)
    xs = rng.integers(0, 2 * pad + 1, n)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    out = np.empty_like(images)
    for i in range(n):
        crop = padded[i, ys[i] : ys[i] + h, xs[i] : xs[i] + w]
        out[i] = crop[:, ::-1] if flips[i] else crop
    return out


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on BN parameters and biases (1-D tensors)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def evaluate_array(
    model: nn.Module, data: ImageArray, prep: Preprocessing, batch_size: int = 500, channels_last: bool = False
) -> tuple[float, np.ndarray]:
    """Top-1 accuracy and the logits of every image (eval mode)."""
    model.eval()
    logits = []
    for i in range(0, len(data), batch_size):
        x = to_input_batch(data.images[i : i + batch_size], prep, channels_last)
        logits.append(model(x).float().numpy())
    out = np.concatenate(logits)
    return float((out.argmax(1) == data.labels).mean()), out


def save_training_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
        torch.save(payload, tmp)
    os.chmod(tmp.name, file_mode())  # NamedTemporaryFile is private (0600); a checkpoint is an ordinary file
    os.replace(tmp.name, path)


def train(
    cfg: TrainConfig,
    train_data: ImageArray,
    test_data: ImageArray | None,
    out: Path,
    resume: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train and write ``out`` (the last state, resumable) after every epoch; returns the per-epoch log."""
    variant = get_variant(cfg.arch)
    if len(train_data.classes) != variant.num_classes:
        raise CheckpointError(
            f"{train_data.root} has {len(train_data.classes)} classes but {cfg.arch} has {variant.num_classes}; "
            "choose a variant with that many classes"
        )
    if cfg.workers <= 1:
        return _train_rank(0, 1, cfg, train_data, test_data, out, resume, progress)
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = mp.get_context("spawn")  # no fork after OpenMP threads exist
    procs = [
        ctx.Process(target=_rank_entry, args=(r, cfg, train_data, test_data, out, resume, port), daemon=True)
        for r in range(1, cfg.workers)
    ]
    for pr in procs:
        pr.start()
    try:
        result = _train_rank(0, cfg.workers, cfg, train_data, test_data, out, resume, progress, port)
    finally:
        for pr in procs:
            pr.join(timeout=60)
            if pr.is_alive():
                pr.terminate()
    return result


def _rank_entry(
    rank: int, cfg: TrainConfig, train_data: ImageArray, test_data: ImageArray | None, out: Path, resume: bool,
    port: int,
) -> None:  # fmt: skip
    _train_rank(rank, cfg.workers, cfg, train_data, test_data, out, resume, None, port)


def _train_rank(
    rank: int,
    world: int,
    cfg: TrainConfig,
    train_data: ImageArray,
    test_data: ImageArray | None,
    out: Path,
    resume: bool,
    progress: Callable[[int, int, float], None] | None,
    port: int = 0,
) -> TrainResult:
    import torch.distributed as dist

    variant = get_variant(cfg.arch)
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

    seed_everything(cfg.seed)
    model = variant.build()
    if cfg.init_from and not (resume and out.is_file()):
        model.load_state_dict(load_model(cfg.init_from, cfg.arch)[0].state_dict())
        if rank == 0:
            log.info("starting from the weights of %s", cfg.init_from)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters()]
    opt = torch.optim.SGD(param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    steps_per_epoch = math.ceil(len(train_data) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    result = TrainResult(config=cfg)
    start_epoch, step, elapsed_before = 0, 0, 0.0
    rng = np.random.default_rng(cfg.seed)
    if resume and out.is_file():
        ck = read_checkpoint(out)
        saved = torch.load(out, map_location="cpu", weights_only=False)
        if saved.get("arch") != cfg.arch:
            raise CheckpointError(f"{out} was trained as {saved.get('arch')}, not {cfg.arch}; pass --arch accordingly")
        model.load_state_dict(ck.state_dict)
        opt.load_state_dict(saved["optimizer"])
        start_epoch, step = saved["epoch"], saved["step"]
        elapsed_before = saved.get("train_seconds", 0.0)
        rng.bit_generator.state = saved["rng"]
        torch.set_rng_state(saved["torch_rng"])
        result.history = [EpochLog(**e) for e in saved.get("history", [])]
        if rank == 0:
            log.info("resumed %s at epoch %d (step %d)", out, start_epoch, step)
    t0 = time.time()
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        te = time.time()
        perm = rng.permutation(len(train_data))
        loss_sum, correct, seen = 0.0, 0, 0
        for b in range(steps_per_epoch):
            if cfg.max_steps and step >= cfg.max_steps:
                break
            idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            # Every rank draws the whole batch's augmentation so the shared RNG stays in step; each keeps its shard.
            batch = augment(train_data.images[idx], rng, cfg.pad, cfg.flip)[rank::world]
            x = to_input_batch(batch, prep, cfg.channels_last)
            y = torch.from_numpy(train_data.labels[idx][rank::world])
            lr = lr_at(step, total, warmup, cfg.lr)
            for g in opt.param_groups:
                g["lr"] = lr
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=False)
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
            opt.step()
            step += 1
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            if progress:
                progress(b + 1, steps_per_epoch, loss_sum / seen)
        loss_sum, correct, seen = all_sum([loss_sum, correct, seen])
        test_acc = None
        if test_data is not None:
            shard = ImageArray(test_data.images[rank::world], test_data.labels[rank::world], test_data.classes,
                               test_data.root)  # fmt: skip
            acc, _ = evaluate_array(model, shard, prep, channels_last=cfg.channels_last)
            hits, count = all_sum([acc * len(shard), len(shard)])
            test_acc = hits / count
        entry = EpochLog(
            epoch=epoch + 1,
            loss=loss_sum / max(seen, 1),
            train_acc=correct / max(seen, 1),
            test_acc=test_acc,
            seconds=time.time() - te,
            lr=lr_at(step - 1, total, warmup, cfg.lr),
        )
        result.history.append(entry)
        if rank == 0:
            log.info(
                "epoch %d/%d loss %.4f train %.4f test %s %.1fs",
                entry.epoch, cfg.epochs, entry.loss, entry.train_acc,
                "-" if test_acc is None else f"{test_acc:.4f}", entry.seconds,
            )  # fmt: skip
            save_training_checkpoint(
                out,
                {
                    "format": OWN_FORMAT,
                    "arch": cfg.arch,
                    "state_dict": model.to(memory_format=torch.contiguous_format).state_dict(),
                    "optimizer": opt.state_dict(),
                    "epoch": epoch + 1,
                    "step": step,
                    "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                    "config": asdict(cfg),
                    "history": [asdict(e) for e in result.history],
                    "train_seconds": elapsed_before + time.time() - t0,
                    "classes": train_data.classes,
                },
            )
            if cfg.channels_last:
                model = model.to(memory_format=torch.channels_last)
        if world > 1:
            dist.barrier()
        if cfg.max_steps and step >= cfg.max_steps:
            break
    if world > 1:
        dist.destroy_process_group()
    result.seconds = elapsed_before + time.time() - t0
    accs = [e.test_acc for e in result.history if e.test_acc is not None]
    result.best_test_acc = max(accs) if accs else None
    return result


def export_weights(train_ckpt: Path, dest: Path, extra: dict[str, Any] | None = None) -> None:
    """Strip optimizer state from a training checkpoint: the small file that ships in the package."""
    saved = torch.load(train_ckpt, map_location="cpu", weights_only=False)
    payload = {k: saved[k] for k in ("format", "arch", "state_dict", "config", "history", "train_seconds", "classes")}
    payload["state_dict"] = {k: v.clone() for k, v in payload["state_dict"].items()}
    payload.update(extra or {})
    save_training_checkpoint(dest, payload)


def history_json(result: TrainResult) -> str:
    return json.dumps([asdict(e) for e in result.history], indent=1)
