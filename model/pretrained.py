"""Weights that ship inside the package, registered on their variants (torchvision-style metadata).

Every ``weights/<arch>.pt`` with its ``<arch>.json`` metrics file (written by ``shufflenet.model.publish``)
is registered on its variant, with its preprocessing, class names and measured accuracy; ``<arch>.md`` is its
model card. ``DEFAULT_ARCH`` is the one the tools use when no ``--arch`` is given. When its file is absent (a
checkout before the training issue landed) the default falls back to random initialisation, and every tool
says so.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from .registry import CIFAR10, CIFAR10_CLASSES, WeightsEntry, get_variant, register_weights

# Chosen for accuracy per CPU-hour of training: grouped 1x1 convolutions train about twice as slowly per
# MAC as dense ones in PyTorch on CPU, so in the same hour g1 1.0x (0.96 M parameters) learns more than
# g3 0.5x (0.24 M). The g3 0.5x weights ship too, for a trained model with channel shuffles.
DEFAULT_ARCH = "shufflenet_v1_g1_1.0x_cifar"


def weights_dir() -> Path:
    return Path(str(resources.files(__package__) / "weights"))


def _register_shipped() -> dict[str, WeightsEntry]:
    found: dict[str, WeightsEntry] = {}
    for card in sorted(weights_dir().glob("*.json")):
        arch = card.stem
        if not (weights_dir() / f"{arch}.pt").is_file():
            continue
        info = json.loads(card.read_text())
        entry = WeightsEntry(
            name=f"{arch}.cifar10",
            filename=f"{arch}.pt",
            sha256=info["sha256"],
            preprocessing=CIFAR10,
            categories=CIFAR10_CLASSES,
            metrics={k: float(v) for k, v in info.get("metrics", {}).items()},
            dataset="CIFAR-10 (JPEG copies), 50k train / 10k test",
            model_card=f"{arch}.md",
        )
        register_weights(arch, entry)
        found[arch] = entry
    return found


SHIPPED_WEIGHTS = _register_shipped()
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS.get(DEFAULT_ARCH)


def shipped_weights_path(arch: str) -> Path | None:
    """Path of the weights shipped for ``arch`` (a canonical registry name), or None."""
    entry = SHIPPED_WEIGHTS.get(arch)
    return None if entry is None else weights_dir() / entry.filename


def default_weights_path() -> Path | None:
    """Path of the embedded default checkpoint, or None when it is not in this installation."""
    return shipped_weights_path(DEFAULT_ARCH)


def default_variant_name() -> str:
    return get_variant(DEFAULT_ARCH).name
