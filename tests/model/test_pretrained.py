"""The weights shipped in the package: the default is the paper's shuffled network, every card matches its file."""

from __future__ import annotations

import json

from shufflenet.model.files import sha256_path
from shufflenet.model.pretrained import DEFAULT_ARCH, SHIPPED_WEIGHTS, default_weights_path, weights_dir
from shufflenet.model.publish import model_card
from shufflenet.model.registry import get_variant


def test_default_is_a_shuffled_network_trained_past_the_no_shuffle_one() -> None:
    """The default has channel shuffles (g > 1) and beats the shipped g = 1 comparison on the same test set."""
    default = get_variant(DEFAULT_ARCH)
    assert default.groups > 1 and default_weights_path() is not None
    no_shuffle = [name for name in SHIPPED_WEIGHTS if get_variant(name).groups == 1]
    assert no_shuffle, "the no-shuffle comparison model ships too"
    for name in no_shuffle:
        assert SHIPPED_WEIGHTS[DEFAULT_ARCH].metrics["top1"] > SHIPPED_WEIGHTS[name].metrics["top1"]


def test_every_card_is_its_json_and_names_only_the_default_as_default() -> None:
    """Each shipped file's sha256 is its JSON's; the Markdown card is what publish writes from that JSON (the
    g3 0.5x card predates the template and only has to carry the sha256 and the role line)."""
    for name in SHIPPED_WEIGHTS:
        info = json.loads((weights_dir() / f"{name}.json").read_text())
        assert info["sha256"] == sha256_path(weights_dir() / f"{name}.pt")
        card = (weights_dir() / f"{name}.md").read_text()
        assert info["sha256"] in card
        assert ("(the embedded default)" in card.splitlines()[0]) == (name == DEFAULT_ARCH)
        if info.get("hardware"):  # cards written by the current template
            assert card == model_card(info)
    gpu = json.loads((weights_dir() / f"{DEFAULT_ARCH}.json").read_text())
    assert "CUDA" in gpu["hardware"] and gpu["metrics"]["test_images"] == 10000
