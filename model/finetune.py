"""Starting a training run from other weights (``--init-from``): the whole network when its classes are the
folder's, else the backbone with a new classifier (fine-tuning, e.g. from an official 1000-class ImageNet file).

The backbone can then train at a fraction of the classifier's learning rate (``backbone_lr_scale``) or stay
frozen (``freeze_backbone``: its weights do not change; its BatchNorm statistics still adapt to the new photos).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from .checkpoint import (
    CLASSIFIER_KEY,
    CheckpointError,
    checkpoint_classes,
    classifier_rows,
    read_checkpoint,
    resolve_arch,
)

log = logging.getLogger(__name__)

CLASSIFIER_PREFIX = "classifier."


@dataclass
class InitResult:
    replaced_classifier: bool
    message: str  # one line for the user


def init_from_checkpoint(model: nn.Module, path: str | Path, arch: str, classes: list[str]) -> InitResult:
    """Load ``path`` into ``model`` (variant ``arch``, a classifier for ``classes``). The file's backbone must be
    the variant's (else one line naming the variant it is); its classifier is kept when it was trained for the
    same classes (same names, or same count where the file names none), replaced otherwise."""
    ckpt = read_checkpoint(path)
    # Refuses another variant's weights, naming it. Shapes decide, not the recorded variant: a backbone may start
    # a network of the other stem (a _cifar run's weights into the 224 variant of the same g and width).
    resolve_arch(replace(ckpt, arch=None), arch, path)
    sd = ckpt.state_dict
    rows = classifier_rows(sd)
    names = checkpoint_classes(ckpt)
    same = rows == len(classes) and (names is None or names == list(classes))
    if same:
        model.load_state_dict(sd, strict=True)
        return InitResult(False, f"starting from the weights of {path}")
    backbone = {k: v for k, v in sd.items() if k != CLASSIFIER_KEY}
    missing, unexpected = model.load_state_dict(backbone, strict=False)  # shapes were checked by resolve_arch
    left = [k for k in [*missing, *unexpected] if not k.startswith(CLASSIFIER_PREFIX)]
    if left:
        raise CheckpointError(f"{path} does not fit {arch} (first: {left[0]}); pass a checkpoint of that variant")
    had = f"{rows}-class" if names is None else f"{rows}-class ({', '.join(names[:3])}{', ...' if rows > 3 else ''})"
    shown = ", ".join(classes[:5]) + (", ..." if len(classes) > 5 else "")
    return InitResult(
        True,
        f"--init-from {path}: backbone loaded; its {had} classifier is replaced by a new one for the "
        f"{len(classes)} classes of the data ({shown})",
    )


def param_groups(
    model: nn.Module, weight_decay: float, backbone_lr_scale: float = 1.0, freeze_backbone: bool = False
) -> list[dict[str, Any]]:
    """SGD parameter groups: no weight decay on BN parameters and biases (1-D tensors); ``lr_scale`` per group
    (the backbone's ``backbone_lr_scale``, the classifier's 1). A frozen backbone gets ``requires_grad=False``
    and no group at all. Without either option: the two groups of every run so far (resumable alike)."""
    if backbone_lr_scale == 1.0 and not freeze_backbone:
        decay = [p for p in model.parameters() if p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.ndim <= 1]
        return [{"params": decay, "weight_decay": weight_decay, "lr_scale": 1.0},
                {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0}]  # fmt: skip
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        head = name.startswith(CLASSIFIER_PREFIX)
        if freeze_backbone and not head:
            p.requires_grad_(False)
            continue
        groups.setdefault((head, p.ndim > 1), []).append(p)
    out = []
    for (head, decays), params in sorted(groups.items()):
        out.append({"params": params, "weight_decay": weight_decay if decays else 0.0,
                    "lr_scale": 1.0 if head else backbone_lr_scale})  # fmt: skip
    return out
