"""Weights that ship inside the package, registered on their variants (torchvision-style metadata).

The embedded default is a ShuffleNet v1 trained here on CIFAR-10 (see ``weights/*.md`` for its model card).
When the file is absent (a checkout before the training issue landed) the default falls back to random
initialisation of the same variant, and every tool says so.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from .registry import CIFAR10, CIFAR10_CLASSES, WeightsEntry, get_variant, register_weights

DEFAULT_ARCH = "shufflenet_v1_g3_0.5x_cifar"
DEFAULT_WEIGHTS_FILE = f"{DEFAULT_ARCH}.pt"


def weights_dir() -> Path:
    return Path(str(resources.files(__package__) / "weights"))


def _register_default() -> WeightsEntry | None:
    path = weights_dir() / DEFAULT_WEIGHTS_FILE
    card = weights_dir() / f"{DEFAULT_ARCH}.json"
    if not path.is_file() or not card.is_file():
        return None
    info = json.loads(card.read_text())
    entry = WeightsEntry(
        name=f"{DEFAULT_ARCH}.cifar10",
        filename=DEFAULT_WEIGHTS_FILE,
        sha256=info["sha256"],
        preprocessing=CIFAR10,
        categories=CIFAR10_CLASSES,
        metrics={k: float(v) for k, v in info.get("metrics", {}).items()},
        dataset="CIFAR-10 (JPEG copies), 50k train / 10k test",
        model_card=f"{DEFAULT_ARCH}.md",
    )
    register_weights(DEFAULT_ARCH, entry)
    return entry


DEFAULT_WEIGHTS = _register_default()


def default_weights_path() -> Path | None:
    """Path of the embedded default checkpoint, or None when it is not in this installation."""
    if DEFAULT_WEIGHTS is None:
        return None
    return weights_dir() / DEFAULT_WEIGHTS.filename


def default_variant_name() -> str:
    return get_variant(DEFAULT_ARCH).name
