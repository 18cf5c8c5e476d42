"""`shufflenet-train`: train a registry variant on an image folder (thin wrapper over model.training).

The folder is <root>/<class>/<image>: one sub-folder per class, any number of classes (the classifier is sized
for them and the checkpoint records their names, which every export, evaluation and the app then show).
Images of any size (JPEG, PNG, WebP, ...) are turned upright by their EXIF orientation, resized (short side)
and centre-cropped to the variant's input by its own preprocessing, as export, evaluation and the app do.

Fine-tuning: --init-from a checkpoint of the same variant (e.g. an official 1000-class ImageNet file): its
backbone is loaded and, for other classes, its classifier replaced; the backbone then trains at
--backbone-lr-scale of the learning rate, or not at all with --freeze-backbone.

Automatic recipe (--batch-size 0, --lr 0): batch 128, or for a small folder an eighth of its images (a power
of two, at least 16); lr 0.1 x batch / 128; warm-up at least a tenth of the run (up to 100 steps); gradients
clipped to --clip-grad. A loss that turns non-finite or explodes stops the run (exit 1), keeping the last
good checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .cli_common import CliParser, Terminated, check_output_file, require_path, run_cli
from .train_config import AUGMENTS, DEVICES, TrainConfig

# torch and the model modules are imported inside main's body, after the paths are checked.
IMAGE_FOLDER = "pass a folder laid out as <root>/<class>/*.jpg"


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written, every default shown (not for on/off flags: ``--no-amp`` stores False, and its
    default, True, would read as if the flag were on)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.nargs == 0 else super()._get_help_string(action)


RECIPE_HELP = {
    "epochs": "passes over the training images",
    "batch_size": "images per step; 0: auto (128, or an eighth of a small folder's images, at least 16)",
    "lr": "peak learning rate; 0: auto (0.1 x batch / 128)",
    "momentum": "SGD Nesterov momentum",
    "weight_decay": "on conv/linear weights only",
    "label_smoothing": "cross-entropy label smoothing",
    "warmup_epochs": "linear warm-up (at least a tenth of the run, up to 100 steps), then cosine decay",
}


def build_parser() -> argparse.ArgumentParser:
    p = CliParser(prog="shufflenet-train", description=__doc__, formatter_class=_HelpFormatter)
    p.add_argument("--arch", help="registry variant (see shufflenet-info; default: the --init-from file's variant, "
                   "else the embedded default's)")  # fmt: skip
    p.add_argument("--data", required=True, type=Path,
                   help="training images, <root>/<class>/<image>, any size (resized and centre-cropped)")  # fmt: skip
    p.add_argument("--val", type=Path, help="test images in the same layout (accuracy logged per epoch)")
    p.add_argument("--out", type=Path, default=Path("runs/train/last.pt"),
                   help="checkpoint written every epoch; an existing one is kept unless --resume/--force")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue from --out (same variant, classes and recipe)")
    p.add_argument("--force", action="store_true", help="--out exists: rename it to OUT.bak-DATE and start afresh")
    p.add_argument("--cache", type=Path, help="where decoded image arrays go (default: ~/.cache/shufflenet-mobile)")
    p.add_argument("--log-json", type=Path, help="write the per-epoch log here at the end")
    d = TrainConfig(arch="")
    for name in ("epochs", "batch_size", "lr", "momentum", "weight_decay", "label_smoothing", "warmup_epochs"):
        p.add_argument("--" + name.replace("_", "-"), type=type(getattr(d, name)), default=getattr(d, name),
                       help=RECIPE_HELP[name])  # fmt: skip
    p.add_argument("--clip-grad", type=float, default=d.clip_grad, help="clip the gradients' global norm (0: off)")
    p.add_argument("--backbone-lr-scale", type=float, default=d.backbone_lr_scale,
                   help="fine-tuning (--init-from, new classes): backbone lr / classifier lr")  # fmt: skip
    p.add_argument("--freeze-backbone", action="store_true", help="fine-tuning: train the new classifier only")
    p.add_argument("--seed", type=int, default=d.seed, help="initial weights, data order, augmentation")
    p.add_argument("--threads", type=int, default=0, help="torch threads per worker (0: all cores, 1 with --workers)")
    p.add_argument("--workers", type=int, default=1, help="data-parallel worker processes (e.g. one per core)")
    p.add_argument(
        "--init-from",
        type=Path,
        help="start from these weights (same variant, e.g. an official ImageNet file), fresh schedule",
    )
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
        from .train_guards import TrainingDiverged, check_resume_request, interrupted_message, prepare_out

        check_resume_request(args.out, args.resume, args.force)
        if args.out.is_dir() or (args.out.exists() and not (args.resume or args.force)):
            prepare_out(args.out, args.resume, force=False)  # refused in one line before anything loads
        check_output_file("--out", args.out)  # found now, not after the first epoch
        check_output_file("--log-json", args.log_json)
        from tqdm import tqdm

        from .datasets import load_image_folder
        from .files import write_json_atomic
        from .pretrained import DEFAULT_ARCH
        from .registry import get_variant
        from .training import resolve_device, train

        if args.resume:  # the checkpoint's variant, and --epochs checked against the epochs done
            from .checkpoint import read_training_state
            from .train_guards import resumed_arch

            arch = resumed_arch(read_training_state(args.out), args.arch, args.epochs, args.out)
        else:
            arch = args.arch or (_init_arch(args.init_from) if args.init_from else DEFAULT_ARCH)
        variant = get_variant(arch)
        resolve_device(args.device)  # a missing GPU is reported before any image is decoded
        prep = variant.preprocessing  # any image size: resized and centre-cropped to the variant's input
        train_data = load_image_folder(args.data, prep, args.cache, limit=args.limit)
        val_data = load_image_folder(args.val, prep, args.cache, min_classes=1, limit=args.limit) if args.val else None
        if val_data is not None:
            from .train_guards import val_classes_of

            val_data = val_classes_of(train_data.classes, val_data, args.val)  # a subset of the classes is fine
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
        cfg.clip_grad = args.clip_grad
        cfg.backbone_lr_scale = args.backbone_lr_scale
        cfg.freeze_backbone = args.freeze_backbone
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

        kept = prepare_out(args.out, args.resume, args.force)
        if kept is not None:
            print(f"--force: the checkpoint that was at {args.out} is kept as {kept}", file=sys.stderr)
        try:
            result = train(cfg, train_data, val_data, args.out, resume=args.resume, progress=progress)
        except TrainingDiverged as e:
            if bar is not None:
                bar.close()
            print(f"error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (cli_common.Terminated): say what is kept
            if bar is not None:
                bar.close()
            print(f"error: {interrupted_message(args.out)}", file=sys.stderr)
            return 143 if isinstance(e, Terminated) else 130
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


def _init_arch(path: Path) -> str:
    """The variant an --init-from file is (its recorded one, else the one its shapes say)."""
    from .checkpoint import read_checkpoint, resolve_arch

    return resolve_arch(read_checkpoint(path), None, path)


if __name__ == "__main__":
    sys.exit(main())
