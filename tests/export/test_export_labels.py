"""The class names a checkpoint was trained for (a user's folder: bird, deer, ship) reach every file of the
export: labels.txt, the Core ML classifier, the manifest; --labels only replaces them, with the same count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shufflenet.export.pipeline import ExportConfig, ExportError, run_export
from shufflenet.export.runtimes.coreml_eval import load_program

CLASSES = ["bird", "deer", "ship"]


@pytest.mark.slow
def test_checkpoint_classes_reach_labels_coreml_and_manifest(own_checkpoint: Path, tmp_path: Path) -> None:
    result = run_export(ExportConfig(output=tmp_path / "out", weights=own_checkpoint, formats=("onnx", "coreml"),
                                     precisions=("fp32",), parity=False))  # fmt: skip
    out = result.output
    assert (out / "labels.txt").read_text().splitlines() == CLASSES
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"] == CLASSES and manifest["variant"]["num_classes"] == 3
    assert json.loads((out / "preprocessing.json").read_text())["num_classes"] == 3
    image = next(e for e in manifest["artifacts"] if e["format"] == "coreml" and e["variant"] == "image")
    assert list(load_program(out / image["path"]).classifier.labels) == CLASSES
    onnx = next(e for e in manifest["artifacts"] if e["format"] == "onnx")
    assert onnx["outputs"][0]["shape"][-1] == 3


def test_labels_file_replaces_names_with_the_same_count_only(own_checkpoint: Path, tmp_path: Path) -> None:
    ten = tmp_path / "ten.txt"
    ten.write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    with pytest.raises(ExportError, match=r"has 10 labels but the model has 3 outputs \(bird, deer, ship"):
        run_export(ExportConfig(output=tmp_path / "bad", weights=own_checkpoint, formats=("onnx",), labels=ten))
    assert not (tmp_path / "bad").exists()
    three = tmp_path / "three.txt"
    three.write_text("sparrow\nelk\nboat\n")
    result = run_export(ExportConfig(output=tmp_path / "out", weights=own_checkpoint, formats=("onnx",),
                                     labels=three, parity=False))  # fmt: skip
    assert (result.output / "labels.txt").read_text().splitlines() == ["sparrow", "elk", "boat"]
    assert result.manifest["classes"] == ["sparrow", "elk", "boat"]


def test_a_labels_file_with_a_byte_order_mark_and_decomposed_accents(own_checkpoint: Path, tmp_path: Path) -> None:
    """Windows editors start a UTF-8 file with a byte-order mark, macOS spells accents decomposed (NFD): neither
    may reach the names (the first class would be '\\ufeffcafé', and never equal the folder 'café')."""
    import unicodedata

    labels = tmp_path / "labels.txt"
    labels.write_bytes("\ufeff".encode() + unicodedata.normalize("NFD", "café\nthé\nmaté\n").encode())
    result = run_export(ExportConfig(output=tmp_path / "out", weights=own_checkpoint, formats=("onnx",),
                                     labels=labels, parity=False))  # fmt: skip
    assert result.manifest["classes"] == ["café", "thé", "maté"]
    assert all(unicodedata.is_normalized("NFC", c) for c in result.manifest["classes"])
    assert (result.output / "labels.txt").read_text(encoding="utf-8").splitlines() == ["café", "thé", "maté"]
