"""The weights shipped inside the package, and which of them the tools use by default.

Every ``weights/<arch>.pt`` with its ``<arch>.json`` card (written by ``shufflenet.model.publish``) is attached to
its registry variant by ``registry`` itself (preprocessing, class names, measured accuracy; ``<arch>.md`` is the
model card). ``DEFAULT_ARCH`` is the variant the tools use when no ``--arch`` is given; exporting it without its
weights file is refused with a one-line error naming ``--weights`` and ``--random-init``.
"""

from __future__ import annotations

from pathlib import Path

from .registry import WeightsEntry, get_variant, list_variants, weights_dir

# The paper's network (g3 1.0x: three groups, a channel shuffle in every unit), trained on a GPU. The g1 1.0x
# weights ship as the no-shuffle comparison (same widths, one group, trained on CPUs) and g3 0.5x as the small one.
DEFAULT_ARCH = "shufflenet_v1_g3_1.0x_cifar"

__all__ = ["DEFAULT_ARCH", "SHIPPED_WEIGHTS", "default_variant_name", "default_weights_path", "shipped_weights_path",
           "weights_dir"]  # fmt: skip

SHIPPED_WEIGHTS: dict[str, WeightsEntry] = {
    name: w for name in list_variants() if (w := get_variant(name).weights) is not None
}


def shipped_weights_path(arch: str) -> Path | None:
    """Path of the weights shipped for ``arch`` (a canonical registry name), or None."""
    entry = SHIPPED_WEIGHTS.get(arch)
    return None if entry is None else weights_dir() / entry.filename


def default_weights_path() -> Path | None:
    """Path of the embedded default checkpoint, or None when it is not in this installation."""
    return shipped_weights_path(DEFAULT_ARCH)


def default_variant_name() -> str:
    return get_variant(DEFAULT_ARCH).name
