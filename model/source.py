"""Where a network's weights come from: the one place that turns a request, or an export manifest's ``source``,
back into a PyTorch model (as torchvision's builders own their weights).

A source is what the manifest records: ``{"kind": "embedded", "path": FILE, "sha256": ...}`` (weights shipped in
this package), ``{"kind": "checkpoint", "path": PATH, "sha256": ...}`` or ``{"kind": "random-init", "seed": N}``.
Exporting calls ``resolve_model``; parity, accuracy and per-layer checks call ``model_from_source`` on the manifest,
which rebuilds the very same network through the same code and refuses weights whose sha256 differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import CheckpointError, load_model
from .files import sha256_path
from .preprocessing import Preprocessing, normalize_hwc
from .pretrained import DEFAULT_ARCH, shipped_weights_path, weights_dir
from .registry import Variant, get_variant


class SourceError(ValueError):
    """The weights asked for cannot be had as asked; one line naming the fix."""


@dataclass
class ResolvedModel:
    model: torch.nn.Module
    variant: Variant
    source: dict[str, Any]


def random_init(variant: Variant, seed: int) -> torch.nn.Module:
    """Seeded untrained weights, with randomised BatchNorm statistics so that folding BN into convolutions is
    exercised by every exporter instead of being skipped over identities."""
    torch.manual_seed(seed)
    model = variant.build().eval()
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model


def resolve_model(
    arch: str | None = None, weights: Path | None = None, random: bool = False, seed: int = 0
) -> ResolvedModel:
    """The network for ``arch`` (default: the embedded trained model): from ``weights``, from the weights shipped
    for it, or seeded random init when ``random``."""
    if weights and random:
        raise SourceError("--weights and --random-init exclude each other; pass one")
    if weights:
        weights = Path(weights)
        try:
            model, variant, _ = load_model(weights, arch)
        except KeyError as e:
            raise SourceError(str(e).strip("'\"")) from None
        # The absolute path: parity and evaluation run from other folders than the export did.
        return ResolvedModel(model.eval(), variant, {"kind": "checkpoint", "path": str(weights.resolve()),
                                                     "sha256": sha256_path(weights)})  # fmt: skip
    try:
        variant = get_variant(arch or DEFAULT_ARCH)
    except KeyError as e:
        raise SourceError(str(e).strip("'\"")) from None
    shipped = shipped_weights_path(variant.name)
    if not random and shipped is not None:
        model, variant, _ = load_model(shipped, variant.name)
        return ResolvedModel(model.eval(), variant, {"kind": "embedded", "path": shipped.name,
                                                     "sha256": sha256_path(shipped)})  # fmt: skip
    if not random:
        why = "has no shipped weights" if variant.name != DEFAULT_ARCH else "is not trained in this installation"
        raise SourceError(f"{variant.name} {why}; pass --weights PATH or --random-init")
    return ResolvedModel(random_init(variant, seed), variant, {"kind": "random-init", "seed": seed, "sha256": None})


def model_from_source(source: dict[str, Any], arch: str, weights: Path | None = None) -> ResolvedModel:
    """Rebuild the network an export was made from (its manifest ``source`` and ``arch``). ``weights`` replaces a
    checkpoint whose recorded path is gone; it must be the same file (sha256)."""
    kind = source.get("kind")
    recorded = source.get("sha256")
    if kind == "random-init":
        if weights is not None:
            raise SourceError(
                f"the export was made with random init (seed {source.get('seed', 0)}); --weights does not apply"
            )
        resolved = resolve_model(arch, random=True, seed=int(source.get("seed", 0)))
    elif kind in ("embedded", "checkpoint"):
        path = weights
        if path is None:
            path = weights_dir() / source.get("path", "") if kind == "embedded" else Path(source.get("path", ""))
        if not Path(path).is_file():
            what = (
                f"the shipped weights {source.get('path')}"
                if kind == "embedded"
                else f"checkpoint {source.get('path')}"
            )
            raise SourceError(
                f"the export was made from {what}, which is not available here"
                + (f" ({path} is not a file)" if weights is not None else "")
                + f"; pass --weights PATH to the same file (sha256 {str(recorded)[:12]}...)"
            )
        digest = sha256_path(path)
        if recorded and digest != recorded:
            raise SourceError(
                f"weights {path} (sha256 {digest[:12]}...) are not the ones the export was made from "
                f"(sha256 {recorded[:12]}...); pass --weights PATH to the original file"
            )
        try:
            resolved = resolve_model(arch, weights=Path(path))
        except CheckpointError as e:
            raise SourceError(str(e)) from None
    else:
        raise SourceError(f"the manifest's source kind {kind!r} is unknown; re-run shufflenet-export")
    if resolved.variant.name != get_variant(arch).name:
        raise SourceError(f"the weights build {resolved.variant.name}, but the manifest's arch is {arch}")
    return resolved


def logits(model: torch.nn.Module, images: np.ndarray, prep: Preprocessing, batch: int = 256) -> np.ndarray:
    """PyTorch float32 logits of resized and centre-cropped uint8 RGB images (N x H x W x 3), normalised as
    ``prep`` says: the reference every exported format is compared with."""
    model = model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(normalize_hwc(images[i : i + batch], prep)).permute(0, 3, 1, 2).contiguous()
            out.append(model(x).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
