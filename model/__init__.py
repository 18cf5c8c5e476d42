"""The reference ShuffleNet v1 family: modules, registry, preprocessing, checkpoints, complexity."""

from .checkpoint import CheckpointError, load_model, read_checkpoint
from .complexity import Complexity, count_complexity
from .preprocessing import Preprocessing, preprocess_array, preprocess_file
from .registry import Variant, WeightsEntry, build_model, get_variant, list_variants
from .shufflenet_v1 import ShuffleNetV1, ShuffleV1Block, channel_shuffle

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
