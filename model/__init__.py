"""The reference ShuffleNet v1 family: modules, registry, preprocessing, checkpoints, complexity.

The names below are imported on first use (PEP 562), so that ``shufflenet.model.cli_common`` and other light
modules load without torch: every command checks its arguments before heavy libraries start."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import CheckpointError, load_model, read_checkpoint
    from .complexity import Complexity, count_complexity
    from .preprocessing import Preprocessing, preprocess_array, preprocess_file
    from .registry import Variant, WeightsEntry, build_model, get_variant, list_variants
    from .shufflenet_v1 import ShuffleNetV1, ShuffleV1Block, channel_shuffle

_SOURCES = {
    "CheckpointError": "checkpoint",
    "load_model": "checkpoint",
    "read_checkpoint": "checkpoint",
    "Complexity": "complexity",
    "count_complexity": "complexity",
    "Preprocessing": "preprocessing",
    "preprocess_array": "preprocessing",
    "preprocess_file": "preprocessing",
    "Variant": "registry",
    "WeightsEntry": "registry",
    "build_model": "registry",
    "get_variant": "registry",
    "list_variants": "registry",
    "ShuffleNetV1": "shufflenet_v1",
    "ShuffleV1Block": "shufflenet_v1",
    "channel_shuffle": "shufflenet_v1",
}

__all__ = [
    "CheckpointError",
    "Complexity",
    "Preprocessing",
    "ShuffleNetV1",
    "ShuffleV1Block",
    "Variant",
    "WeightsEntry",
    "build_model",
    "channel_shuffle",
    "count_complexity",
    "get_variant",
    "list_variants",
    "load_model",
    "preprocess_array",
    "preprocess_file",
    "read_checkpoint",
]


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
