"""Named ShuffleNet v1 variants (timm-style registry) and the metadata each carries.

Channel rule. For groups 3 and 8 at widths 0.5x-2.0x the channel lists are the official Megvii ones,
irregular stems included. Every other combination scales the paper's Table 1 by the width: each stage's
output is rounded to the nearest multiple of ``4 * g`` (so the bottleneck ``C/4`` and every grouped conv and
shuffle divide by g; at least ``4 * g``), and the stem ``24 * width`` is rounded up to a multiple of g (so the
first stride-2 branch, ``stage2 - stem`` channels, divides by g).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from .preprocessing import Preprocessing
from .shufflenet_v1 import ShuffleNetV1

GROUPS = (1, 2, 3, 4, 8)
WIDTHS = (0.25, 0.5, 1.0, 1.5, 2.0)

# Paper Table 1 at width 1x: stage-2 output channels (stages 3 and 4 double each time).
PAPER_STAGE2 = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}

# Official Megvii channel lists [stem, stage2, stage3, stage4].
OFFICIAL_CHANNELS = {
    (3, 0.5): (12, 120, 240, 480),
    (3, 1.0): (24, 240, 480, 960),
    (3, 1.5): (24, 360, 720, 1440),
    (3, 2.0): (48, 480, 960, 1920),
    (8, 0.5): (16, 192, 384, 768),
    (8, 1.0): (24, 384, 768, 1536),
    (8, 1.5): (24, 576, 1152, 2304),
    (8, 2.0): (48, 768, 1536, 3072),
}

# Published ImageNet top-1 error (%): paper Table 2 and the official README.
PAPER_TOP1_ERR = {
    (1.0, 1): 33.6, (1.0, 2): 32.7, (1.0, 3): 32.6, (1.0, 4): 32.8, (1.0, 8): 32.4,
    (0.5, 1): 45.1, (0.5, 2): 44.4, (0.5, 3): 43.2, (0.5, 4): 41.6, (0.5, 8): 42.3,
    (0.25, 1): 57.1, (0.25, 2): 56.8, (0.25, 3): 55.0, (0.25, 4): 54.2, (0.25, 8): 52.7,
    (1.5, 3): 28.5, (2.0, 3): 26.3,
}  # fmt: skip
OFFICIAL_TOP1_ERR = {
    (2.0, 3): 25.9, (2.0, 8): 27.1, (1.5, 3): 28.4, (1.5, 8): 29.0,
    (1.0, 3): 32.2, (1.0, 8): 32.0, (0.5, 3): 42.7, (0.5, 8): 41.2,
}  # fmt: skip

# The official evaluation: BGR, 0..255 floats, no normalisation, short side 256, centre crop 224.
IMAGENET_OFFICIAL = Preprocessing(
    resize=256,
    crop=(224, 224),
    colour_order="BGR",
    scale=1.0,
    notes="Megvii ShuffleNet-Series evaluation: BGR, float 0..255, no mean/std",
)
CIFAR10 = Preprocessing(
    resize=32,
    crop=(32, 32),
    colour_order="RGB",
    scale=1.0 / 255.0,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    notes="CIFAR-10 channel statistics",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class WeightsEntry:
    """A set of weights shipped with the package: file, input preparation, labels, measured metrics."""

    name: str
    filename: str
    sha256: str
    preprocessing: Preprocessing
    categories: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    dataset: str = ""
    model_card: str = ""


@dataclass(frozen=True)
class Variant:
    name: str
    groups: int
    width: float
    stem: str
    num_classes: int
    input_size: tuple[int, int]
    channels: tuple[int, int, int, int]
    preprocessing: Preprocessing
    official: bool
    dataset: str
    paper_top1_err: float | None = None
    official_top1_err: float | None = None
    categories: tuple[str, ...] | None = None
    weights: WeightsEntry | None = None

    def build(self, shuffle: bool = True) -> ShuffleNetV1:
        return ShuffleNetV1(self.channels, self.groups, self.num_classes, stem=self.stem, shuffle=shuffle)

    def class_names(self) -> list[str]:
        if self.categories is not None:
            return list(self.categories)
        return [f"class_{i}" for i in range(self.num_classes)]

    def with_classes(self, classes: Sequence[str]) -> Variant:
        """The same network with a classifier for ``classes`` (any count, e.g. a folder's sub-folders): the name,
        channels and preprocessing stay, the shipped weights do not (they were trained for other classes)."""
        names = tuple(str(c) for c in classes)
        if not names:
            raise ValueError(f"{self.name}: a classifier needs at least one class")
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: class names repeat ({', '.join(names)}); pass distinct names")
        if names == tuple(self.class_names()):
            return self
        return replace(self, num_classes=len(names), categories=names, weights=None, dataset="custom")


def scaled_channels(groups: int, width: float) -> tuple[int, int, int, int]:
    """Channel list for any (g, width): official where Megvii published it, else the documented rule."""
    if (groups, width) in OFFICIAL_CHANNELS:
        return OFFICIAL_CHANNELS[(groups, width)]
    unit = 4 * groups
    stages = []
    for mult in (1, 2, 4):
        c = PAPER_STAGE2[groups] * mult * width
        stages.append(max(unit, math.floor(c / unit + 0.5) * unit))
    stem = math.ceil(24 * width / groups) * groups
    return (stem, stages[0], stages[1], stages[2])


def width_tag(width: float) -> str:
    tag = f"{width:g}"
    return (tag if "." in tag else tag + ".0") + "x"


def variant_name(groups: int, width: float, stem: str = "imagenet") -> str:
    suffix = "" if stem == "imagenet" else "_cifar"
    return f"shufflenet_v1_g{groups}_{width_tag(width)}{suffix}"


_REGISTRY: dict[str, Variant] = {}


def register_weights(arch: str, entry: WeightsEntry) -> None:
    v = _REGISTRY[arch]
    _REGISTRY[arch] = Variant(**{**v.__dict__, "weights": entry})


def _register_all() -> None:
    for stem in ("imagenet", "small"):
        for g in GROUPS:
            for w in WIDTHS:
                name = variant_name(g, w, stem)
                common = {"name": name, "groups": g, "width": w, "stem": stem, "channels": scaled_channels(g, w)}
                if stem == "imagenet":
                    _REGISTRY[name] = Variant(
                        **common,
                        num_classes=1000,
                        input_size=(224, 224),
                        preprocessing=IMAGENET_OFFICIAL,
                        official=(g, w) in OFFICIAL_CHANNELS,
                        dataset="ImageNet-1k",
                        paper_top1_err=PAPER_TOP1_ERR.get((w, g)),
                        official_top1_err=OFFICIAL_TOP1_ERR.get((w, g)),
                    )
                else:
                    _REGISTRY[name] = Variant(
                        **common,
                        num_classes=10,
                        input_size=(32, 32),
                        preprocessing=CIFAR10,
                        official=False,
                        dataset="CIFAR-10",
                        categories=CIFAR10_CLASSES,
                    )


def weights_dir() -> Path:
    """The package's ``weights/`` folder: ``<arch>.pt`` with its ``<arch>.json`` card (``publish`` writes both)."""
    return Path(str(resources.files(__package__) / "weights"))


def _register_shipped() -> None:
    """Attach every shipped weights file to its variant here, at import of the registry itself, so that
    ``get_variant(name).weights`` holds whichever module was imported first."""
    for card in sorted(weights_dir().glob("*.json")):
        arch = card.stem
        if arch not in _REGISTRY or not (weights_dir() / f"{arch}.pt").is_file():
            continue
        info = json.loads(card.read_text())
        register_weights(
            arch,
            WeightsEntry(
                name=f"{arch}.cifar10",
                filename=f"{arch}.pt",
                sha256=info["sha256"],
                preprocessing=CIFAR10,
                categories=CIFAR10_CLASSES,
                metrics={k: float(v) for k, v in info.get("metrics", {}).items()},
                dataset="CIFAR-10 (JPEG copies), 50k train / 10k test",
                model_card=f"{arch}.md",
            ),
        )


_register_all()
_register_shipped()


def list_variants() -> list[str]:
    return list(_REGISTRY)


class UnknownVariantError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def _canonical(name: str) -> str:
    """Accept width spellings like ``1x`` or ``0.50x`` for ``1.0x`` / ``0.5x``."""
    return re.sub(r"_(\d+(?:\.\d+)?)x(?=$|_)", lambda m: "_" + width_tag(float(m.group(1))), name)


def get_variant(name: str) -> Variant:
    try:
        return _REGISTRY[_canonical(name)]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; run `shufflenet-info` for the list"
        raise UnknownVariantError(f"unknown variant {name!r}{hint}") from None


def build_model(name: str, shuffle: bool = True) -> ShuffleNetV1:
    return get_variant(name).build(shuffle=shuffle)
