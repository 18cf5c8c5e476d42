"""`shufflenet-train`: train a registry variant on an image folder (thin wrapper over model.training)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .cli_common import CliParser, require_path, run_cli
from .train_config import AUGMENTS, DEVICES, TrainConfig

# torch and the model modules are imported inside main's body, after the paths are checked.
IMAGE_FOLDER = "pass a folder laid out as <root>/<class>/*.jpg"


def build_parser() -> argparse.ArgumentParser:
    p = CliParser(prog="shufflenet-train", description=__doc__)
    p.add_argument("--arch", help="registry variant (see shufflenet-info; default: the embedded default's)")
    p.add_argument("--data", required=True, type=Path, help="training images, <root>/<class>/*.jpg")
    p.add_argument("--val", type=Path, help="test images in the same layout (accuracy logged per epoch)")
    p.add_argument("--out", type=Path, default=Path("runs/train/last.pt"), help="checkpoint written every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    p.add_argument("--cache", type=Path, help="where decoded image arrays are cached")
    p.add_argument("--log-json", type=Path, help="write the per-epoch log here at the end")
    d = TrainConfig(arch="")
    for name in ("epochs", "batch_size", "lr", "momentum", "weight_decay", "label_smoothing", "warmup_epochs"):
        p.add_argument("--" + name.replace("_", "-"), type=type(getattr(d, name)), default=getattr(d, name))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=0, help="torch threads per worker (0: all cores, 1 with --workers)")
    p.add_argument("--workers", type=int, default=1, help="data-parallel worker processes (e.g. one per core)")
    p.add_argument("--init-from", type=Path, help="start from these weights (same variant), fresh schedule")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (smoke runs)")
    p.add_argument("--limit", type=int, default=0, help="use only this many images of --data and --val (smoke runs)")
    p.add_argument("--device", choices=DEVICES, default=d.device, help="auto: CUDA when available, else the CPU")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="float32 on CUDA instead of bf16 autocast")
    p.add_argument(
        "--compile", action="store_true",
        help="torch.compile the training step (CUDA graphs on CUDA) with the fused optimiser; each epoch's last "
        "partial batch is dropped (one graph shape). Worth it on a GPU; on a CPU the compile takes minutes",
    )  # fmt: skip
    p.add_argument(
        "--compile-backend", default=d.compile_backend,
        help="torch.compile backend for --compile (aot_eager: graph capture without code generation, fast to start)",
    )  # fmt: skip
    p.add_argument("--augment", choices=AUGMENTS, default=d.augment, help="on top of crop + flip (TrivialAugment wide)")
    p.add_argument("--cutout", type=int, default=d.cutout, help="Cutout square side in pixels (0: none; CIFAR: 16)")
    p.add_argument("--ema", type=float, default=d.ema, help="decay of the weights' moving average per step (0: none)")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="test pass every N epochs and after the last")
    p.add_argument(
        "--time-budget", type=float, default=d.time_budget,
        help="seconds of training: after epoch 3 the epoch count is lowered to what fits (0: no limit)",
    )  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        require_path("--data", args.data, "folder", IMAGE_FOLDER)
        require_path("--val", args.val, "folder", IMAGE_FOLDER)
        require_path("--init-from", args.init_from, "file", "pass a checkpoint file of the same variant")
        if args.cutout < 0 or args.eval_every < 1 or args.time_budget < 0:
            raise ValueError("--cutout and --time-budget take a number >= 0, --eval-every one >= 1")
        if args.ema and not 0 < args.ema < 1:
            raise ValueError(f"--ema {args.ema}: the decay lies between 0 and 1 (e.g. 0.999), or 0 for none")
        if args.out.is_dir():
            raise ValueError(f"--out {args.out} is a folder; pass a checkpoint file path such as {args.out}/last.pt")
        from tqdm import tqdm

        from .datasets import load_image_folder
        from .files import write_json_atomic
        from .pretrained import DEFAULT_ARCH
        from .registry import get_variant
        from .training import resolve_device, train

        arch = args.arch or DEFAULT_ARCH
        variant = get_variant(arch)
        resolve_device(args.device)  # a missing GPU is reported before any image is decoded
        train_data = load_image_folder(args.data, variant.input_size, args.cache, limit=args.limit)
        val_data = load_image_folder(args.val, variant.input_size, args.cache, limit=args.limit) if args.val else None
        if val_data is not None and val_data.classes != train_data.classes:
            raise ValueError(f"{args.val} has classes {val_data.classes}, {args.data} has {train_data.classes}")
        cfg = TrainConfig(
            arch=arch,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            momentum=args.momentum,
            weight_decay=args.weight_decay,
            label_smoothing=args.label_smoothing,
            warmup_epochs=args.warmup_epochs,
            seed=args.seed,
            threads=args.threads,
            workers=args.workers,
            max_steps=args.max_steps,
            init_from=str(args.init_from or ""),
            device=args.device,
            amp=args.amp,
            compile=args.compile,
            compile_backend=args.compile_backend,
            augment=args.augment,
            cutout=args.cutout,
            ema=args.ema,
            eval_every=args.eval_every,
            time_budget=args.time_budget,
        )
        bar: Any = None  # a tqdm bar, made on the first step of each epoch

        def progress(i: int, n: int, loss: float) -> None:
            # Called after step i of n of an epoch, not necessarily every step (a GPU reports every few).
            nonlocal bar
            if bar is None or i <= bar.n:
                if bar is not None:
                    bar.close()
                bar = tqdm(total=n, desc="train", unit="batch", leave=False, file=sys.stderr)
            bar.update(i - bar.n)
            bar.set_postfix(loss=f"{loss:.3f}")

        result = train(cfg, train_data, val_data, args.out, resume=args.resume, progress=progress)
        if bar is not None:
            bar.close()
        for e in result.history:
            acc = "-" if e.test_acc is None else f"{e.test_acc:.4f}"
            ema = "" if e.ema_test_acc is None else f"  ema {e.ema_test_acc:.4f}"
            print(f"epoch {e.epoch:3d}  loss {e.loss:.4f}  train {e.train_acc:.4f}  test {acc}{ema}  {e.seconds:.0f}s")
        print(f"checkpoint: {args.out}  ({result.seconds / 60:.1f} min)")
        if args.log_json:
            write_json_atomic(args.log_json, [e.__dict__ for e in result.history], indent=1)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
