"""Loading checkpoints: the official Megvii files (both forms) and this project's own training files.

Official files are ``{"state_dict": {...}}`` with ``module.`` prefixes (``nn.DataParallel``) or a bare
state dict. This project's files are ``{"format": "shufflenet-mobile", "arch": NAME, "state_dict": ...}``
plus training metadata. Everything is read with ``weights_only=True``: a checkpoint cannot run code.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

from .registry import Variant, get_variant, list_variants
from .shufflenet_v1 import ShuffleNetV1

OWN_FORMAT = "shufflenet-mobile"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the problem and the fix."""


@dataclass
class LoadedCheckpoint:
    state_dict: dict[str, torch.Tensor]
    arch: str | None  # recorded in the file (own format) or None (official files)
    meta: dict[str, Any]
    source_format: str  # "shufflenet-mobile", "official-wrapped" or "official-bare"


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save since 1.6
_PICKLE_PROTO = 0x80  # a pickle of protocol 2 or later: the legacy torch.save format (and plain pickles)


def _sniff(path: Path) -> None:
    """Refuse, by its first bytes, a file that cannot be a PyTorch checkpoint, before torch reads it."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(_ZIP_MAGIC) or (head and head[0] == _PICKLE_PROTO):
        return
    if not head:
        raise CheckpointError(f"{path} is empty, not a PyTorch checkpoint; pass a .pth/.pt checkpoint file")
    try:
        head.decode("utf-8")
        kind = "it is a text file"
    except UnicodeDecodeError:
        kind = "its first bytes are neither a zip archive (torch.save) nor a pickle"
    raise CheckpointError(f"{path} is not a PyTorch checkpoint: {kind}; pass a .pth/.pt checkpoint file")


def _load_error(path: Path, e: Exception) -> CheckpointError:
    import pickle

    text = str(e)
    if isinstance(e, pickle.UnpicklingError) and "Unsupported operand" in text:
        return CheckpointError(
            f"{path} was refused as unsafe: it is a plain Python pickle, not a torch.save checkpoint, and is not "
            "unpickled (that could run code); re-save the weights with torch.save(state_dict, PATH)"
        )
    if isinstance(e, pickle.UnpicklingError) or "Weights only load failed" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" ({found.group(1)})" if found else ""
        return CheckpointError(
            f"{path} was refused as unsafe: it holds Python objects other than tensors{what}, and checkpoints are "
            "loaded without running code; pass a checkpoint of tensors only (torch.save(model.state_dict(), PATH))"
        )
    reason = text.splitlines()[0][:120] if text.strip() else type(e).__name__
    return CheckpointError(
        f"{path} is a damaged or truncated PyTorch checkpoint ({reason}); download it again or pass the right file"
    )


def load_safely(path: str | Path) -> Any:
    """``torch.load`` of a checkpoint file with ``weights_only=True`` (tensors, containers, numbers, strings: no
    code runs), after checking that the file is one; every failure is a one-line ``CheckpointError``. The one
    reader of checkpoint files: ``--weights``, ``--init-from``, ``--resume``, publishing and weights export."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file; pass the .pth/.pt file itself")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the path of a .pth/.pt/.mdl file")
    _sniff(path)
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols before refusing or reading a plain pickle; the outcome is
            # reported in one line below, the warning would only precede it.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load fails in many ways on foreign or damaged files
        raise _load_error(path, e) from None


def read_training_state(path: str | Path) -> dict[str, Any]:
    """The whole payload of a ``shufflenet-train`` checkpoint (optimizer, RNG states, config, history), read as
    safely as ``--weights``; anything else is refused in one line."""
    obj = load_safely(path)
    if not isinstance(obj, dict) or obj.get("format") != OWN_FORMAT:
        raise CheckpointError(
            f"{path} is not a shufflenet-train checkpoint (no format {OWN_FORMAT!r} record); pass a file written "
            "by shufflenet-train"
        )
    return obj


def read_checkpoint(path: str | Path) -> LoadedCheckpoint:
    return checkpoint_from_payload(load_safely(path), Path(path))


def checkpoint_from_payload(obj: Any, path: Path) -> LoadedCheckpoint:
    """The weights and metadata of a checkpoint already read (``path`` names it in errors)."""
    meta: dict[str, Any] = {}
    arch = None
    if isinstance(obj, dict) and obj.get("format") == OWN_FORMAT:
        arch = obj.get("arch")
        meta = {k: v for k, v in obj.items() if k not in ("state_dict", "optimizer", "scheduler")}
        sd, source = obj.get("state_dict"), OWN_FORMAT
    elif isinstance(obj, dict) and "state_dict" in obj:
        sd, source = obj["state_dict"], "official-wrapped"
    else:
        sd, source = obj, "official-bare"
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(
            f"{path} holds no state dict of tensors (found {type(sd).__name__}); pass a ShuffleNet v1 checkpoint"
        )
    sd = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in sd.items()}
    return LoadedCheckpoint(state_dict=sd, arch=arch, meta=meta, source_format=source)


CLASSIFIER_KEY = "classifier.0.weight"


@cache
def _expected_shapes(name: str, num_classes: int | None = None) -> dict[str, tuple[int, ...]]:
    """Every tensor shape of the variant; with ``num_classes``, of its network with that many classes."""
    with torch.device("meta"):
        model = get_variant(name).build()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if num_classes is not None:
        shapes[CLASSIFIER_KEY] = (num_classes, shapes[CLASSIFIER_KEY][1])
    return shapes


def classifier_rows(sd: dict[str, torch.Tensor]) -> int | None:
    """How many classes a state dict's classifier has (None when it has none)."""
    w = sd.get(CLASSIFIER_KEY)
    return int(w.shape[0]) if isinstance(w, torch.Tensor) and w.ndim == 2 else None


def _shapes(sd: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in sd.items()}


def identify_variants(sd: dict[str, torch.Tensor]) -> list[str]:
    """Registry variants whose every tensor shape matches the state dict (ImageNet/small stems share shapes
    except for the classifier, so both may match when the class count agrees)."""
    shapes = _shapes(sd)
    return [n for n in list_variants() if _expected_shapes(n) == shapes]


def identify_backbones(sd: dict[str, torch.Tensor]) -> list[str]:
    """Registry variants whose every tensor matches the state dict apart from the classifier's class count:
    any variant can be built with any number of classes (a network trained on a folder of 3 classes)."""
    shapes = _shapes(sd)
    rows = classifier_rows(sd)
    return [n for n in list_variants() if _expected_shapes(n, rows) == shapes]


def describe_mismatch(sd: dict[str, torch.Tensor], name: str) -> str:
    expected = _expected_shapes(name, classifier_rows(sd))
    got = _shapes(sd)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = [k for k in expected if k in got and expected[k] != got[k]]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (first: {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} unexpected keys (first: {extra[0]})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} wrong shapes (first: {k} is {list(got[k])}, expected {list(expected[k])})")
    return "; ".join(parts) if parts else "no difference"


def resolve_arch(ckpt: LoadedCheckpoint, arch: str | None, path: str | Path) -> str:
    """The variant to load into: the one asked for (checked), the one recorded, or the one the shapes say."""
    exact = identify_variants(ckpt.state_dict)
    matches = exact or identify_backbones(ckpt.state_dict)
    recorded = get_variant(ckpt.arch).name if ckpt.arch else None
    wanted = get_variant(arch).name if arch else recorded  # unknown names fail here with a suggestion
    if recorded is not None and wanted != recorded:
        # The file's own record wins: shapes alone cannot tell the stems apart (a _cifar file fits the ImageNet
        # variant of the same g and width), and a network built with the other stem computes something else.
        raise CheckpointError(
            f"{path} is a {recorded} checkpoint (its recorded variant), not {wanted}; leave out --arch "
            f"or pass --arch {recorded}"
        )
    if wanted is not None:
        if wanted in matches or wanted in identify_backbones(ckpt.state_dict):
            return wanted
        if matches:
            raise CheckpointError(
                f"{path} is a {' / '.join(matches)} checkpoint, not {wanted}; pass --arch {matches[0]}"
            )
        raise CheckpointError(
            f"{path} does not fit {wanted}: {describe_mismatch(ckpt.state_dict, wanted)}; "
            "check that the file is a ShuffleNet v1 checkpoint of that variant"
        )
    if not matches:
        keys = list(ckpt.state_dict)
        hint = "" if any(k.startswith("features.") for k in keys) else f" (its first key is {keys[0]!r})"
        raise CheckpointError(
            f"{path} matches no ShuffleNet v1 variant{hint}; run `shufflenet-info` to list the variants"
        )
    # Shapes cannot tell the stems apart; the class count usually does, else prefer the ImageNet stem.
    return sorted(matches, key=lambda n: get_variant(n).stem != "imagenet")[0]


def checkpoint_classes(ckpt: LoadedCheckpoint) -> list[str] | None:
    """The class names a checkpoint records (``shufflenet-train`` stores its folder's), when they fit its
    classifier; None otherwise (official files record none)."""
    names = ckpt.meta.get("classes")
    rows = classifier_rows(ckpt.state_dict)
    if isinstance(names, list | tuple) and all(isinstance(n, str) for n in names) and len(names) == rows:
        return list(names)
    return None


def checkpoint_variant(ckpt: LoadedCheckpoint, name: str) -> Variant:
    """The registry variant ``name`` with the checkpoint's classifier: its recorded class names, else the
    variant's own when the count agrees, else ``class_0`` ... ``class_N-1``."""
    variant = get_variant(name)
    rows = classifier_rows(ckpt.state_dict) or variant.num_classes
    names = checkpoint_classes(ckpt)
    if names is None:
        names = variant.class_names() if rows == variant.num_classes else [f"class_{i}" for i in range(rows)]
    return variant.with_classes(names)


def load_model(path: str | Path, arch: str | None = None) -> tuple[ShuffleNetV1, Variant, LoadedCheckpoint]:
    """Build the matching variant, sized for the checkpoint's classes (``Variant.with_classes``), and load the
    checkpoint into it with ``strict=True``, in eval mode."""
    ckpt = read_checkpoint(path)
    name = resolve_arch(ckpt, arch, path)
    variant = checkpoint_variant(ckpt, name)
    model = variant.build()
    model.load_state_dict(ckpt.state_dict, strict=True)
    model.eval()
    return model, variant, ckpt


def to_official_state_dict(model: torch.nn.Module, data_parallel: bool = True) -> dict[str, torch.Tensor]:
    """A state dict in the official file layout (``module.`` prefixes as written by ``nn.DataParallel``)."""
    prefix = "module." if data_parallel else ""
    return {prefix + k: v.clone() for k, v in model.state_dict().items()}
