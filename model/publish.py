"""Turn a finished training run into shipped weights: small weights file, metrics JSON, model card.

Usage: ``python -m shufflenet.model.publish RUN.pt --data TEST_DIR [--notes TEXT]``. The files are named
after the run's variant (``weights/<arch>.pt/.json/.md``) and registered on it at import; the variant named
by ``pretrained.DEFAULT_ARCH`` is the embedded default. The card's accuracy is measured here, on the test
folder, with the same evaluator as ``shufflenet-eval``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from .checkpoint import load_model, read_training_state
from .cli_common import CliParser, run_cli
from .complexity import count_complexity
from .datasets import load_image_folder
from .files import sha256_path, write_text_atomic
from .pretrained import DEFAULT_ARCH, weights_dir
from .registry import get_variant
from .training import evaluate_array, export_weights


def publish(run: Path, test_dir: Path, notes: str = "", dest_dir: Path | None = None) -> dict:
    dest_dir = dest_dir or weights_dir()
    saved = read_training_state(run)  # read without running code, as --weights is
    arch = get_variant(saved["arch"]).name
    weights = dest_dir / f"{arch}.pt"
    export_weights(run, weights)
    model, variant, _ = load_model(weights)
    test = load_image_folder(test_dir, variant.preprocessing)
    acc, logits = evaluate_array(model, test, variant.preprocessing)
    top5 = float(
        (torch.from_numpy(logits).topk(5, 1).indices == torch.from_numpy(test.labels)[:, None]).any(1).float().mean()
    )
    cx = count_complexity(model, variant.input_size)
    cfg = saved["config"]
    info = {
        "arch": arch,
        "sha256": sha256_path(weights),
        "metrics": {"top1": acc, "top5": top5, "test_images": len(test)},
        "macs": cx.macs,
        "params": cx.params,
        "config": cfg,
        "epochs": saved["epoch"],
        "train_seconds": saved.get("train_seconds"),
        "hardware": saved.get("hardware"),  # recorded by runs since --device; older runs were CPU-only
        "history": saved.get("history"),
        "notes": notes,
    }
    write_text_atomic(dest_dir / f"{arch}.json", json.dumps(info, indent=1) + "\n")
    write_text_atomic(dest_dir / f"{arch}.md", model_card(info))
    return info


def model_card(info: dict) -> str:
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
    return f"""# Model card: {info["arch"]}{role}

ShuffleNet v1, groups {v.groups} ({shuffle}), width {v.width:g}x, small-input stem (3x3 stride-1 conv, no max
pool), 10 classes, trained from scratch on CIFAR-10 on {machine}.

| | |
|---|---|
| variant | `{info["arch"]}` (channels {", ".join(map(str, v.channels))}) |
| complexity | {info["macs"] / 1e6:.1f} M MACs at 32x32, {info["params"] / 1e6:.3f} M parameters |
| data | CIFAR-10 JPEG copies (`../shared/data/cifar10-jpeg.tar.gz`): 50,000 train / 10,000 test images |
| input | 32x32 RGB, `(pixel / 255 - mean) / std`, mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616) |
| **test accuracy** | **top-1 {pct(m["top1"])} %**, top-5 {pct(m["top5"])} % on all {m["test_images"]:,} test images |
| epochs | {info["epochs"]} |
| training time | {(info["train_seconds"] or 0) / 60:.0f} min on {where} |
| seed | {cfg["seed"]} |
| file sha256 | `{info["sha256"]}` |

## Recipe
SGD with Nesterov momentum {cfg["momentum"]}, batch {cfg["batch_size"]}, peak learning rate {cfg["lr"]} with
{cfg["warmup_epochs"]:g} epoch of linear warm-up then per-step cosine decay to 0, weight decay {cfg["weight_decay"]}
on conv/linear weights only (none on BN and biases), label smoothing {cfg["label_smoothing"]}, random crop with
{cfg["pad"]}-pixel zero padding, horizontal flip{recipe_extras}; {execution}.

Command (from the repository root, after `tar -xzf ../shared/data/cifar10-jpeg.tar.gz -C .cache/`):

```
shufflenet-train --arch {info["arch"]} --data .cache/cifar10/train --val .cache/cifar10/test \\
    --out runs/default/last.pt --epochs {info["epochs"]} --lr {cfg["lr"]} --seed {cfg["seed"]} {device_flags}{extra}
python -m shufflenet.model.publish runs/default/last.pt --data .cache/cifar10/test
```

{info["notes"]}

## Per-epoch log
| epoch | loss | train top-1 % | test top-1 % | seconds | last lr |
|---|---|---|---|---|---|
{rows}
"""


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="python -m shufflenet.model.publish", description=__doc__)
    p.add_argument("run", type=Path)
    p.add_argument("--data", type=Path, required=True, help="the test image folder")
    p.add_argument("--notes", default="")
    args = p.parse_args(argv)

    def body() -> int:
        info = publish(args.run, args.data, args.notes)
        print(f"published {info['arch']}: top-1 {info['metrics']['top1'] * 100:.2f} % -> {weights_dir()}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
