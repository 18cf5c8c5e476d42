"""Fine-tuning versus training from scratch on a small folder of photos: top-1 on a held-out split after N epochs.

The task: four CIFAR-10 classes (bird, cat, deer, dog) cut from the *test* split and enlarged to photos of mixed
sizes and formats (``own_data``), 100 per class to train on and a disjoint 100 per class held out. The
"pretrained" backbone is the shipped CIFAR-10 model (trained on the training split, never on these images); its
10-class classifier is replaced by a new 4-class one. Usage:
``python -m shufflenet.benchmarks.accuracy.finetune_bench --output docs/results/finetune_own_data.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from shufflenet.model.cli_common import CliParser, run_cli

CLASSES = ("bird", "cat", "deer", "dog")


def run(archive: Path, work: Path, epochs: int, per_class: int, threads: int) -> dict[str, Any]:
    from shufflenet.benchmarks.accuracy.evaluate import evaluate_checkpoint
    from shufflenet.benchmarks.accuracy.own_data import build_photo_folder
    from shufflenet.model.datasets import load_image_folder
    from shufflenet.model.pretrained import DEFAULT_ARCH, default_weights_path
    from shufflenet.model.registry import get_variant
    from shufflenet.model.training import TrainConfig, train

    train_dir, test_dir = work / "train", work / "test"
    if not train_dir.is_dir():
        build_photo_folder(archive, train_dir, CLASSES, per_class)
        build_photo_folder(archive, test_dir, CLASSES, per_class, skip=per_class)
    prep = get_variant(DEFAULT_ARCH).preprocessing
    data = load_image_folder(train_dir, prep, work / "cache")
    backbone = default_weights_path()
    setups = {
        "from scratch": {},
        "fine-tuned (backbone lr x0.1)": {"init_from": str(backbone)},
        "fine-tuned, frozen backbone": {"init_from": str(backbone), "freeze_backbone": True},
    }
    rows = []
    for name, extra in setups.items():
        out = work / (name.split()[0] + ("_frozen" if "frozen" in name else "") + ".pt")
        out.unlink(missing_ok=True)
        t = time.time()
        result = train(TrainConfig(arch=DEFAULT_ARCH, epochs=epochs, threads=threads, **extra), data, None, out)
        acc = evaluate_checkpoint(out, test_dir)
        rows.append({"setup": name, "top1": acc.top1, "held_out_images": acc.images, "epochs": epochs,
                     "train_loss": [round(e.loss, 4) for e in result.history], "lr": result.config.lr,
                     "batch_size": result.config.batch_size, "train_seconds": round(time.time() - t, 1)})  # fmt: skip
        print(f"{name}: top-1 {acc.top1 * 100:.1f} % on {acc.images} held-out photos", file=sys.stderr, flush=True)
    return {"arch": DEFAULT_ARCH, "backbone": backbone.name if backbone else None, "classes": list(CLASSES),
            "train_images": len(data), "results": rows}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="python -m shufflenet.benchmarks.accuracy.finetune_bench", description=__doc__,
                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--archive", type=Path, default=Path("../shared/data/cifar10-jpeg.tar.gz"))
    p.add_argument("--work", type=Path, default=Path(".cache/finetune_bench"))
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    def body() -> int:
        if not args.archive.is_file():
            raise ValueError(f"--archive {args.archive} does not exist; pass the CIFAR-10 JPEG archive")
        from shufflenet.model.files import write_json_atomic

        write_json_atomic(args.output, run(args.archive, args.work, args.epochs, args.per_class, args.threads))
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
