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
good checkpoint.

Big folders: --data-mode auto keeps a folder in memory as one decoded array while it takes at most 2 GiB
(about 14,000 images at 224x224) and streams a bigger one (each image decoded and augmented when needed, by
--loader-workers processes). --recipe imagenet-official is Megvii's ImageNet recipe for ShuffleNet v1 (batch
1024, lr 0.5 linear to 0 over 300,000 steps, weight decay 4e-5, label smoothing 0.1, then one epoch of
BatchNorm statistics), scaled linearly to another --batch-size; any flag given overrides it.

Several processes (data-parallel, DDP): under torchrun, e.g.
  torchrun --standalone --nproc-per-node 8 -m shufflenet.model.cli_train --data DIR ...
or --workers N (and --nnodes/--node-rank/--master-addr for several machines), which starts the same processes
through torchrun's engine. --batch-size is the global batch, split over the processes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .cli_common import CliParser, Terminated, check_output_file, require_path, run_cli
from .recipe import IMAGENET_OFFICIAL, PRESETS, preset
from .train_config import AUGMENTS, DATA_MODES, DEVICES, SCHEDULES, TrainConfig

# torch and the model modules are imported inside main's body, after the paths are checked.
IMAGE_FOLDER = "pass a folder laid out as <root>/<class>/*.jpg"
USER_CPP_LOG_ENV = "SHUFFLENET_USER_CPP_LOG_LEVEL"


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
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads per process (0: all cores, 1 with several processes on a machine)")  # fmt: skip
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
    big = p.add_argument_group("big folders and the official ImageNet recipe")
    big.add_argument("--recipe", choices=sorted(PRESETS), help="a published recipe's settings as the defaults "
                     f"(flags given override them): {IMAGENET_OFFICIAL.name}: {IMAGENET_OFFICIAL.summary}")  # fmt: skip
    big.add_argument("--data-mode", choices=DATA_MODES, default=d.data_mode,
                     help="memory: decode the folder once into an array (crop with padding, flip); stream: decode "
                     "each image when needed (random-resized crop, colour jitter, flip); auto: memory up to 2 GiB of "
                     "decoded images, else stream")  # fmt: skip
    big.add_argument(
        "--loader-workers",
        type=int,
        default=d.loader_workers,
        help="decoding processes per training process when streaming (-1: the cores shared out)",
    )
    big.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=d.schedule,
        help="learning rate after the warm-up: cosine or linear decay to 0 per step",
    )
    big.add_argument(
        "--steps",
        type=int,
        default=d.total_steps,
        help="optimiser steps of the schedule (0: --epochs of them); the run stops there",
    )
    big.add_argument("--bn-recalibration", action="store_true",
                     help="after the last step, one epoch that sets the BatchNorm statistics to their average over "
                     "it, weights frozen (the official recipe's last phase)")  # fmt: skip
    dp = p.add_argument_group("several processes (DDP; under torchrun these come from torchrun)")
    dp.add_argument("--workers", type=int, default=1,
                    help="training processes on this machine (one per GPU, or CPU processes), started through "
                    "torchrun's engine")  # fmt: skip
    dp.add_argument("--nnodes", type=int, default=1, help="machines in the run (each started with this command)")
    dp.add_argument("--node-rank", type=int, default=0, help="this machine's number, 0..nnodes-1 (0 coordinates)")
    dp.add_argument("--master-addr", default="127.0.0.1", help="address of machine 0, reachable from every machine")
    dp.add_argument("--master-port", type=int, default=29500, help="a free TCP port on machine 0")
    dp.add_argument(
        "--connect-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the other machines (or for machine 0) before stopping",
    )
    dp.add_argument(
        "--dist-timeout",
        type=float,
        default=d.dist_timeout,
        help="seconds a process waits for the others inside a step before the run fails",
    )
    dp.add_argument(
        "--sync-bn",
        action="store_true",
        help="BatchNorm statistics over the global batch (SyncBatchNorm) instead of each process's share",
    )
    return p


# Options a --recipe sets when they are not given (command-line name -> TrainConfig field).
PRESET_OPTIONS = {
    "batch_size": "batch_size", "lr": "lr", "momentum": "momentum", "weight_decay": "weight_decay",
    "label_smoothing": "label_smoothing", "warmup_epochs": "warmup_epochs", "schedule": "schedule",
    "steps": "total_steps", "bn_recalibration": "bn_recalibration", "data_mode": "data_mode",
    "clip_grad": "clip_grad", "augment": "augment", "cutout": "cutout", "ema": "ema",
}  # fmt: skip
_UNSET = object()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, with a --recipe's settings for every option of it not given (``PRESET_OPTIONS``); an
    --epochs given replaces the recipe's step count."""
    parser = build_parser()
    args = parser.parse_args(argv, namespace=argparse.Namespace(**dict.fromkeys([*PRESET_OPTIONS, "epochs"], _UNSET)))
    given = {k for k in [*PRESET_OPTIONS, "epochs"] if getattr(args, k) is not _UNSET}
    values: dict[str, Any] = {}
    if args.recipe:
        values = preset(args.recipe, args.batch_size if "batch_size" in given else 0)
        if "epochs" in given and "steps" not in given:
            values["total_steps"] = 0
    for option in [*PRESET_OPTIONS, "epochs"]:
        if option not in given:
            setattr(args, option, values.get(PRESET_OPTIONS.get(option, option), parser.get_default(option)))
    args.nesterov = values.get("nesterov", True)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)

    def body() -> int:
        require_path("--data", args.data, "folder", IMAGE_FOLDER)
        require_path("--val", args.val, "folder", IMAGE_FOLDER)
        require_path("--init-from", args.init_from, "file", "pass a checkpoint file of the same variant")
        if args.cutout < 0 or args.eval_every < 1 or args.time_budget < 0:
            raise ValueError("--cutout and --time-budget take a number >= 0, --eval-every one >= 1")
        if args.steps < 0 or args.loader_workers < -1:
            raise ValueError("--steps takes a number >= 0 (0: --epochs), --loader-workers one >= -1 (-1: auto)")
        if args.ema and not 0 < args.ema < 1:
            raise ValueError(f"--ema {args.ema}: the decay lies between 0 and 1 (e.g. 0.999), or 0 for none")
        if args.dist_timeout <= 0:
            raise ValueError("--dist-timeout takes a number of seconds > 0")
        from .launch import LAUNCHED_ENV, LaunchSpec, launched_by_torchrun
        from .train_guards import check_resume_request, prepare_out

        spec = LaunchSpec(args.workers, args.nnodes, args.node_rank, args.master_addr, args.master_port,
                          args.connect_timeout)  # fmt: skip
        spec.check()
        launched = os.environ.get(LAUNCHED_ENV) == "1"
        if launched_by_torchrun() and not launched and (args.workers > 1 or args.nnodes > 1):
            raise ValueError(
                "--workers/--nnodes start the processes themselves; under torchrun give --nproc-per-node and "
                "--nnodes to torchrun instead"
            )
        check_resume_request(args.out, args.resume, args.force)
        if args.out.is_dir() or (args.out.exists() and not (args.resume or args.force)):
            prepare_out(args.out, args.resume, force=False)  # refused in one line before anything loads
        check_output_file("--out", args.out)  # found now, not after the first epoch
        check_output_file("--log-json", args.log_json)
        if (args.workers > 1 or args.nnodes > 1) and not launched_by_torchrun():
            return _front_end(spec, argv, args.out)
        return _train_process(args, quiet_peer_errors=launched)

    return run_cli(body)


def _front_end(spec: Any, argv: list[str], out: Path) -> int:
    """--workers/--nnodes: this command's processes started through torchrun's engine; its failures in one line."""
    # c10d's connection retries and timeouts, with C++ stack traces: here the one line says it all. The training
    # processes get the user's own setting back (``_train_process``).
    os.environ[USER_CPP_LOG_ENV] = os.environ.get("TORCH_CPP_LOG_LEVEL", "")
    os.environ["TORCH_CPP_LOG_LEVEL"] = "FATAL"
    from .cli_common import log_file_beside
    from .files import missing_folders, remove_empty_folders
    from .launch import LaunchError, launch

    made, log = missing_folders(out.parent), log_file_beside(out, "launch")
    fresh_log = not log.exists()
    try:
        launch(spec, sys.executable, ["-u", "-m", "shufflenet.model.cli_train", *argv], log)
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: every process was stopped; say what is kept
        from .train_guards import interrupted_message

        print(f"error: {interrupted_message(out)}", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except LaunchError as e:
        if e.exitcode is None:  # the run never started: the other machines, or machine 0, did not answer
            if fresh_log:  # nothing ran: leave nothing behind
                log.unlink(missing_ok=True)
                remove_empty_folders(made)
            print(f"error: {e}", file=sys.stderr)
            return 2
        if e.exitcode > 0:
            return e.exitcode  # the process that failed told its own error, in one line
        print(f"error: {e}; {_checkpoint_state(out)}", file=sys.stderr)
        return 1
    return 0


def _checkpoint_state(out: Path) -> str:
    """What a stopped run left at ``out``, read back (so "intact" is checked, not assumed)."""
    from .checkpoint import CheckpointError, read_training_state

    if not out.exists():
        return f"no checkpoint was written to {out}"
    try:
        saved = read_training_state(out)
    except CheckpointError as e:
        return f"the checkpoint at {out} cannot be read ({e})"
    return f"the checkpoint of epoch {saved.get('epoch')} at {out} is intact; --resume continues from it"


def _train_process(args: argparse.Namespace, quiet_peer_errors: bool) -> int:
    """One training process: the whole run, or (under torchrun) one rank of it."""
    if USER_CPP_LOG_ENV in os.environ:  # started by the front end, which silenced c10d for itself only
        user = os.environ.pop(USER_CPP_LOG_ENV)
        if user:
            os.environ["TORCH_CPP_LOG_LEVEL"] = user
        else:
            os.environ.pop("TORCH_CPP_LOG_LEVEL", None)
    from .distributed import PeerLost, init_from_env, shutdown
    from .training import resolve_device

    device = resolve_device(args.device)  # a missing GPU is reported before any image is decoded
    ctx = init_from_env(device.type, args.dist_timeout)
    if not ctx.is_main:
        logging.getLogger().setLevel(logging.WARNING)  # logs and progress from rank 0 only
    tell = ctx.is_main and not quiet_peer_errors  # under --workers the front end tells how the run ended
    try:
        return _train_rank(args, ctx, tell)
    except PeerLost as e:
        if ctx.is_main and not quiet_peer_errors:  # under --workers the front end names the process that failed
            print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        shutdown()


def _train_rank(args: argparse.Namespace, ctx: Any, tell: bool) -> int:
    from tqdm import tqdm

    from .datasets import load_image_folder
    from .files import write_json_atomic
    from .pretrained import DEFAULT_ARCH
    from .registry import get_variant
    from .streaming import choose_data_mode, index_image_folder
    from .train_guards import TrainingDiverged, interrupted_message, prepare_out, val_classes_of
    from .training import train

    if args.resume:  # the checkpoint's variant, and --epochs checked against the epochs done
        from .checkpoint import read_training_state
        from .train_guards import resumed_arch

        # A run counted in steps (--steps) has as many epochs as they take: --epochs is not checked then.
        epochs = sys.maxsize if args.steps else args.epochs
        arch = resumed_arch(read_training_state(args.out), args.arch, epochs, args.out)
    else:
        arch = args.arch or (_init_arch(args.init_from) if args.init_from else DEFAULT_ARCH)
    variant = get_variant(arch)
    prep = variant.preprocessing  # any image size: resized and centre-cropped to the variant's input
    index = index_image_folder(args.data, limit=args.limit)
    mode = choose_data_mode(args.data_mode, len(index), prep)
    if mode == "stream":
        train_data: Any = index
        val_data: Any = index_image_folder(args.val, min_classes=1, limit=args.limit) if args.val else None
    else:
        with ctx.main_first():  # rank 0 decodes into the cache, the others read it
            train_data = load_image_folder(args.data, prep, args.cache, limit=args.limit)
            val_data = (load_image_folder(args.val, prep, args.cache, min_classes=1, limit=args.limit)
                        if args.val else None)  # fmt: skip
    if val_data is not None:
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
        workers=ctx.world,
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
        clip_grad=args.clip_grad,
        backbone_lr_scale=args.backbone_lr_scale,
        freeze_backbone=args.freeze_backbone,
        recipe=args.recipe or "",
        schedule=args.schedule,
        nesterov=args.nesterov,
        total_steps=args.steps,
        bn_recalibration=args.bn_recalibration,
        data_mode=mode,
        sync_bn=args.sync_bn,
        loader_workers=args.loader_workers,
        dist_timeout=args.dist_timeout,
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

    kept = prepare_out(args.out, args.resume, args.force) if ctx.is_main else None
    if kept is not None:
        print(f"--force: the checkpoint that was at {args.out} is kept as {kept}", file=sys.stderr)
    try:
        result = train(cfg, train_data, val_data, args.out, resume=args.resume, progress=progress)
    except TrainingDiverged as e:
        if bar is not None:
            bar.close()
        if ctx.is_main:  # every process saw the same loss: one of them says so
            print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (cli_common.Terminated): say what is kept
        if bar is not None:
            bar.close()
        if tell:
            print(f"error: {interrupted_message(args.out)}", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    if bar is not None:
        bar.close()
    if not ctx.is_main:
        return 0
    for e in result.history:
        acc = "-" if e.test_acc is None else f"{e.test_acc:.4f}"
        ema = "" if e.ema_test_acc is None else f"  ema {e.ema_test_acc:.4f}"
        print(f"epoch {e.epoch:3d}  loss {e.loss:.4f}  train {e.train_acc:.4f}  test {acc}{ema}  {e.seconds:.0f}s")
    print(f"checkpoint: {args.out}  ({result.seconds / 60:.1f} min)")
    if args.log_json:
        write_json_atomic(args.log_json, [e.__dict__ for e in result.history], indent=1)
    return 0


def _init_arch(path: Path) -> str:
    """The variant an --init-from file is (its recorded one, else the one its shapes say)."""
    from .checkpoint import read_checkpoint, resolve_arch

    return resolve_arch(read_checkpoint(path), None, path)


if __name__ == "__main__":
    sys.exit(main())
