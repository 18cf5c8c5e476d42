"""Turn a finished training run into a small weights file, a metrics JSON and a model card.

Usage: ``python -m shufflenet.model.publish RUN.pt --data TEST_DIR [--out DIR] [--notes TEXT]``. The three files
are named after the run's variant (``<arch>.pt/.json/.md``) and go to ``--out`` (default: ``published/`` beside
the run); ``shufflenet-export --weights DIR/<arch>.pt`` exports them and ``shufflenet-info --weights`` shows the
card's accuracy. The weights the package ships are never replaced: a folder holding them is refused. The card's
accuracy is measured here, on the test folder, with the same evaluator as ``shufflenet-eval``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .cli_common import CliParser, check_output_file, require_path, run_cli

# torch and the model modules are imported inside the functions, so that the arguments are checked first.
SUFFIXES = (".pt", ".json", ".md")


def default_dest(run: Path) -> Path:
    """Where a run's publication goes when no folder is named: ``published/`` beside the run's checkpoint."""
    return Path(run).parent / "published"


def _is_publication(dest: Path, arch: str) -> bool:
    """Whether ``dest`` holds an earlier publication of ``arch`` by this tool: a card whose sha256 is its file's."""
    from .files import sha256_path

    card = read_card(dest / f"{arch}.pt")
    return card is not None and card.get("arch") == arch and card.get("sha256") == sha256_path(dest / f"{arch}.pt")


def check_dest(dest: Path, arch: str) -> None:
    """Refuse, before any work, a destination that would replace shipped weights or a file this tool did not write
    (an earlier publication of the same variant is replaced), or that cannot be written."""
    from .registry import weights_dir

    dest = Path(dest)
    if dest.resolve() == weights_dir().resolve():
        raise ValueError(
            f"--out {dest} is the folder of the weights this package ships, which publishing never replaces; "
            "publish to a folder of your own (default: published/ beside the run)"
        )
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"--out {dest} is a file; pass a folder for the weights, metrics and model card")
    taken = [dest / f"{arch}{s}" for s in SUFFIXES if (dest / f"{arch}{s}").exists()]
    if taken and not _is_publication(dest, arch):
        raise ValueError(
            f"--out {dest} already holds {taken[0].name}, which is not an earlier publication of this tool; "
            "pass another --out folder"
        )
    for suffix in SUFFIXES:
        check_output_file("--out", dest / f"{arch}{suffix}")


def read_card(weights: Path) -> dict[str, Any] | None:
    """The metrics card published beside a weights file (``<arch>.json``), when it names that very file."""
    card = Path(weights).with_suffix(".json")
    try:
        info = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("metrics"), dict) else None


def published_card(weights: Path) -> dict[str, Any] | None:
    """``read_card``, checked: only a card whose sha256 is the file's (a card of other weights says nothing)."""
    from .files import sha256_path

    info = read_card(weights)
    return info if info is not None and info.get("sha256") == sha256_path(weights) else None


def topk_hits(logits: Any, labels: Any, k: int) -> float:
    """Top-k accuracy; ``k`` is capped at the number of classes (a 3-class network has no top-5)."""
    import torch

    scores = torch.as_tensor(logits)
    k = min(k, scores.shape[1])
    return float((scores.topk(k, 1).indices == torch.as_tensor(labels)[:, None]).any(1).float().mean())


def publish(run: Path, test_dir: Path, notes: str = "", dest_dir: Path | None = None) -> dict:
    import numpy as np

    from .checkpoint import load_model, read_training_state
    from .complexity import count_complexity
    from .datasets import DatasetError, load_image_folder
    from .files import sha256_path, write_text_atomic
    from .registry import get_variant
    from .train_steps import evaluate_array
    from .training import export_weights

    dest_dir = Path(dest_dir) if dest_dir is not None else default_dest(run)
    saved = read_training_state(run)  # read without running code, as --weights is
    arch = get_variant(saved["arch"]).name
    check_dest(dest_dir, arch)
    weights = dest_dir / f"{arch}.pt"
    test = load_image_folder(test_dir, get_variant(arch).preprocessing, min_classes=1)
    classes = list(saved.get("classes") or get_variant(arch).class_names())
    unknown = [c for c in test.classes if c not in classes]
    if unknown:
        raise DatasetError(
            f"class folder(s) {', '.join(unknown[:3])} of {test_dir} are not classes of the run "
            f"({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}); pass its test folder"
        )
    labels = np.asarray([classes.index(test.classes[i]) for i in test.labels], np.int64)  # the run's indices
    export_weights(run, weights)
    model, variant, _ = load_model(weights)
    test.labels = labels
    acc, logits = evaluate_array(model, test, variant.preprocessing)
    cx = count_complexity(model, variant.input_size)
    cfg = saved["config"]
    info = {
        "arch": arch,
        "sha256": sha256_path(weights),
        "metrics": {"top1": acc, "top5": topk_hits(logits, test.labels, 5), "test_images": len(test)},
        "macs": cx.macs,
        "params": cx.params,
        "config": cfg,
        "epochs": saved["epoch"],
        "train_seconds": saved.get("train_seconds"),
        "hardware": saved.get("hardware"),  # recorded by runs since --device; older runs were CPU-only
        "history": saved.get("history"),
        "notes": notes,
    }
    if variant.class_names() != get_variant(arch).class_names():  # a run on a folder of the user's own classes
        info["classes"] = variant.class_names()
    write_text_atomic(dest_dir / f"{arch}.json", json.dumps(info, indent=1) + "\n")
    write_text_atomic(dest_dir / f"{arch}.md", model_card(info))
    return info


def model_card(info: dict) -> str:
    from .pretrained import DEFAULT_ARCH
    from .registry import get_variant

    cfg = info["config"]

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x * 100:.2f}"

    rows = "\n".join(
        f"| {e['epoch']} | {e['loss']:.4f} | {pct(e['train_acc'])} | {pct(e['test_acc'])} | "
        f"{e['seconds']:.0f} | {e['lr']:.4f} |"
        for e in info["history"] or []
    )
    m = info["metrics"]
    workers = cfg.get("workers", 1)
    hardware = info.get("hardware") or ""
    on_gpu = "CUDA" in hardware
    machine = hardware if on_gpu else "a 2-core CPU machine"
    where = hardware if on_gpu else "2 CPU cores (shared with other work)"
    execution = (
        f"one process on {hardware}" if on_gpu else f"{workers} data-parallel worker processes of one thread\neach"
    )
    # The stronger recipe's parts, where the run used them (older runs' configs lack the keys).
    extras, extra_flags = [], []
    if cfg.get("augment", "none") != "none":
        extras.append("TrivialAugment (wide, one operation per image at a random magnitude)")
        extra_flags.append(f"--augment {cfg['augment']}")
    if cfg.get("cutout"):
        extras.append(f"Cutout ({cfg['cutout']}-pixel square)")
        extra_flags.append(f"--cutout {cfg['cutout']}")
    if cfg.get("ema"):
        extras.append(f"a moving average of the weights (decay {cfg['ema']} per step), which is what ships")
        extra_flags.append(f"--ema {cfg['ema']}")
    if cfg.get("compile"):
        extras.append("the step compiled with torch.compile (CUDA graphs) and the fused optimiser")
        extra_flags.append("--compile")
    recipe_extras = "".join(f", {e}" for e in extras)
    device_flags = (
        f"--device cuda --batch-size {cfg['batch_size']} --warmup-epochs {cfg['warmup_epochs']:g}"
        if on_gpu
        else f"--workers {workers}"
    )
    extra = "".join(f" {f}" for f in extra_flags)
    v = get_variant(info["arch"])
    role = " (the embedded default)" if info["arch"] == DEFAULT_ARCH else ""
    shuffle = "a channel shuffle in every unit" if v.groups > 1 else "no channel shuffle"
    warmup = f"{cfg['warmup_epochs']:g} epoch" + ("" if cfg["warmup_epochs"] == 1 else "s")
    # A run on a folder of the user's own classes records them; the shipped CIFAR-10 cards keep their wording.
    own = info.get("classes")
    stem = (
        "small-input stem (3x3 stride-1 conv, no max\npool)"
        if v.stem == "small"
        else "ImageNet stem (3x3 stride-2 conv, max\npool)"
    )
    origin = f"fine-tuned from {cfg['init_from']}" if cfg.get("init_from") else "trained from scratch"
    what = (
        f"{len(own)} classes ({', '.join(own[:6])}{', ...' if len(own) > 6 else ''}), {origin} on a folder of photos"
        if own
        else "10 classes, trained from scratch on CIFAR-10"
    )
    data = (
        f"the photos of its training folder, {len(own)} classes; tested on the folder given to publish"
        if own
        else "CIFAR-10 JPEG copies (`../shared/data/cifar10-jpeg.tar.gz`): 50,000 train / 10,000 test images"
    )
    size = "x".join(map(str, v.input_size))
    k = min(5, len(own)) if own else 5
    prep = v.preprocessing

    def four(values: tuple[float, ...]) -> str:
        return "(" + ", ".join(f"{x:.4f}" for x in values) + ")"

    norm = (
        f"`(pixel / 255 - mean) / std`, mean {four(prep.mean)}, std {four(prep.std)}"
        if prep.scale != 1.0
        else f"{prep.colour_order} values 0..255, no mean/std"
    )
    train_dirs = "--data TRAIN_DIR --val TEST_DIR" if own else "--data .cache/cifar10/train --val .cache/cifar10/test"
    test_dir = "TEST_DIR" if own else ".cache/cifar10/test"
    fetch = "" if own else ", after `tar -xzf ../shared/data/cifar10-jpeg.tar.gz -C .cache/`"
    return f"""# Model card: {info["arch"]}{role}

ShuffleNet v1, groups {v.groups} ({shuffle}), width {v.width:g}x, {stem}, {what} on {machine}.

| | |
|---|---|
| variant | `{info["arch"]}` (channels {", ".join(map(str, v.channels))}) |
| complexity | {info["macs"] / 1e6:.1f} M MACs at {size}, {info["params"] / 1e6:.3f} M parameters |
| data | {data} |
| input | {size} {prep.colour_order}, {norm} |
| **test accuracy** | **top-1 {pct(m["top1"])} %**, top-{k} {pct(m["top5"])} % on all {m["test_images"]:,} test images |
| epochs | {info["epochs"]} |
| training time | {(info["train_seconds"] or 0) / 60:.0f} min on {where} |
| seed | {cfg["seed"]} |
| file sha256 | `{info["sha256"]}` |

## Recipe
SGD with Nesterov momentum {cfg["momentum"]}, batch {cfg["batch_size"]}, peak learning rate {cfg["lr"]} with
{warmup} of linear warm-up then per-step cosine decay to 0, weight decay {cfg["weight_decay"]}
on conv/linear weights only (none on BN and biases), label smoothing {cfg["label_smoothing"]}, random crop with
{cfg["pad"]}-pixel zero padding, horizontal flip{recipe_extras}; {execution}.

Command (from the repository root{fetch}):

```
shufflenet-train --arch {info["arch"]} {train_dirs} \\
    --out runs/default/last.pt --epochs {info["epochs"]} --lr {cfg["lr"]} --seed {cfg["seed"]} {device_flags}{extra}
python -m shufflenet.model.publish runs/default/last.pt --data {test_dir}
```

{info["notes"]}

## Per-epoch log
| epoch | loss | train top-1 % | test top-1 % | seconds | last lr |
|---|---|---|---|---|---|
{rows}
"""


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="python -m shufflenet.model.publish", description=__doc__)
    p.add_argument("run", type=Path, help="a shufflenet-train checkpoint (e.g. runs/train/last.pt)")
    p.add_argument("--data", type=Path, required=True, help="the test image folder, <root>/<class>/*.jpg")
    p.add_argument("--out", type=Path, help="folder for <arch>.pt/.json/.md (default: published/ beside the run)")
    p.add_argument("--notes", default="", help="a paragraph for the model card")
    args = p.parse_args(argv)

    def body() -> int:
        require_path("run", args.run, "file", "pass the checkpoint shufflenet-train wrote (--out of the run)")
        require_path("--data", args.data, "folder", "pass a folder laid out as <root>/<class>/*.jpg")
        dest = args.out if args.out is not None else default_dest(args.run)
        info = publish(args.run, args.data, args.notes, dest)
        weights = dest / f"{info['arch']}.pt"
        print(
            f"published {info['arch']}: top-1 {info['metrics']['top1'] * 100:.2f} % on "
            f"{info['metrics']['test_images']} images -> {weights} (+ .json, .md); export it with "
            f"shufflenet-export --weights {weights}"
        )
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
