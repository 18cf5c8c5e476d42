"""`shufflenet-eval` computes the right accuracy on a labelled folder whose answers are known."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from shufflenet.benchmarks.accuracy.evaluate import evaluate_artifacts, evaluate_checkpoint, topk_accuracy
from shufflenet.export.pipeline import ExportConfig, run_export
from shufflenet.model import build_model
from shufflenet.model.datasets import DatasetError
from shufflenet.model.registry import CIFAR10, CIFAR10_CLASSES
from shufflenet.model.source import logits

ARCH = "shufflenet_v1_g3_0.25x_cifar"


def test_topk_accuracy_known_answers() -> None:
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5], [0.5, 0.3, 0.2]])
    labels = np.array([1, 1, 2, 2])
    assert topk_accuracy(logits, labels, 1) == 0.5
    assert topk_accuracy(logits, labels, 2) == 0.75
    assert topk_accuracy(logits, labels, 5) == 1.0


@pytest.fixture(scope="module")
def known_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    """Images filed under the class the network predicts for 7 of 10, under another class for 3."""
    d = tmp_path_factory.mktemp("known")
    torch.manual_seed(11)
    model = build_model(ARCH).eval()
    ckpt = d / "model.pt"
    torch.save({"format": "shufflenet-mobile", "arch": ARCH, "state_dict": model.state_dict()}, ckpt)
    images = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    pred = logits(model, images, CIFAR10).argmax(1)
    root = d / "data"
    for i, img in enumerate(images):
        label = pred[i] if i < 7 else (pred[i] + 1) % 10
        dest = root / CIFAR10_CLASSES[label] / f"{i}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(dest)
    return ckpt, root, 0.7


def test_checkpoint_accuracy_is_exact(known_folder: tuple[Path, Path, float]) -> None:
    ckpt, root, expected = known_folder
    r = evaluate_checkpoint(ckpt, root)
    assert (r.format, r.images, r.top1, r.top1_agreement) == ("pytorch", 10, expected, 1.0)


@pytest.mark.slow
def test_every_exported_file_evaluated(known_folder: tuple[Path, Path, float], tmp_path: Path) -> None:
    ckpt, root, expected = known_folder
    out = tmp_path / "export"
    run_export(ExportConfig(output=out, weights=ckpt, formats=("onnx", "tflite"), precisions=("fp32", "int8")))
    json_path = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, "-m", "shufflenet.benchmarks.cli_eval", "--artifacts", str(out),
                           "--data", str(root), "--json", str(json_path)], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(json_path.read_text())
    assert [r["format"] for r in rows] == ["pytorch", "onnx", "onnx", "tflite", "tflite"]
    for r in rows:
        assert {"format", "precision", "path", "images", "top1", "top5", "top1_agreement"} <= set(r)
        assert r["images"] == 10
        if r["precision"] == "fp32":
            assert r["top1"] == expected and r["top1_agreement"] == 1.0
    assert evaluate_artifacts(out, root, ("onnx",))[1].top1 == expected
    # Read 4 images at a time, each chunk through every file before the next is read, each told: the same answers.
    said: list[str] = []
    chunked = evaluate_artifacts(out, root, ("tflite",), progress=said.append, chunk=4)
    assert [r.top1 for r in chunked[1:]] == [r["top1"] for r in rows[3:]]
    counts = [ln.strip() for ln in said if ln.startswith("  ") and ln.endswith(" images")]
    assert counts == ["4/10 images", "8/10 images", "10/10 images"], said


def test_a_folder_is_read_a_chunk_at_a_time(known_folder: tuple[Path, Path, float], monkeypatch: pytest.MonkeyPatch
                                           ) -> None:  # fmt: skip
    """No more than ``chunk`` images are decoded at once (a 50,000-image folder never sits in memory), and the
    answers are those of one pass over the whole folder."""
    from shufflenet.benchmarks.accuracy import evaluate

    ckpt, root, expected = known_folder
    whole = evaluate_checkpoint(ckpt, root)
    decoded: list[int] = []
    real = evaluate.decode_files

    def counting(files: list[Path], *args: object, **kwargs: object) -> object:
        decoded.append(len(files))
        return real(files, *args, **kwargs)

    monkeypatch.setattr(evaluate, "decode_files", counting)
    chunked = evaluate_checkpoint(ckpt, root, chunk=3)
    assert decoded == [3, 3, 3, 1]
    assert (chunked.images, chunked.top1, chunked.top5) == (10, expected, whole.top5) and whole.top1 == expected


def test_unknown_class_folder(known_folder: tuple[Path, Path, float], tmp_path: Path) -> None:
    ckpt, _, _ = known_folder
    (tmp_path / "zebra").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "zebra" / "z.png")
    with pytest.raises(DatasetError, match=r"zebra of .* are not among the model.s labels"):
        evaluate_checkpoint(ckpt, tmp_path)


def test_checkpoint_eval_uses_the_checkpoints_own_classes(own_checkpoint: Path, own_photos: dict, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    """A checkpoint trained on bird/deer/ship evaluates on a held-out folder of those classes; a folder with a
    class the checkpoint does not know is refused, naming it and the checkpoint's classes."""
    import shutil

    from shufflenet.benchmarks.cli_eval import main as eval_main

    r = evaluate_checkpoint(own_checkpoint, own_photos["test"])
    assert r.images == 24 and 0.0 <= r.top1 <= 1.0
    assert eval_main(["--checkpoint", str(own_checkpoint), "--data", str(own_photos["test"])]) == 0
    assert "24" in capsys.readouterr().out
    other = tmp_path / "other"
    shutil.copytree(own_photos["test"], other)
    (other / "ship").rename(other / "jet")
    assert eval_main(["--checkpoint", str(own_checkpoint), "--data", str(other)]) == 2
    err = capsys.readouterr().err
    assert "class folder(s) jet" in err and "(bird, deer, ship" in err


@pytest.fixture(scope="module")
def onnx_export(known_folder: tuple[Path, Path, float], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The known checkpoint exported to ONNX with --weights given relative to the folder the export ran in."""
    ckpt, _, _ = known_folder
    d = tmp_path_factory.mktemp("relative")
    (d / "weights").mkdir()
    (d / "weights" / "model.pt").write_bytes(ckpt.read_bytes())
    proc = subprocess.run([sys.executable, "-m", "shufflenet.export.cli", "--weights", "weights/model.pt", "--format",
                           "onnx", "--precision", "fp32", "--no-parity", "--output", "export"], cwd=d,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return d / "export"


def _eval(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shufflenet.benchmarks.cli_eval", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)  # fmt: skip


@pytest.mark.slow
def test_an_export_evaluates_from_any_folder_and_eval_takes_weights(
    onnx_export: Path, known_folder: tuple[Path, Path, float], tmp_path: Path
) -> None:
    """The manifest records the checkpoint's absolute path (it recorded weights/model.pt, which only resolved
    where the export ran); when the checkpoint has moved, shufflenet-eval --weights names it, as its message says."""
    _, root, expected = known_folder
    recorded = json.loads((onnx_export / "manifest.json").read_text())["source"]["path"]
    assert recorded == str(onnx_export.parent / "weights" / "model.pt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _eval("--artifacts", onnx_export, "--data", root, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    moved = tmp_path / "moved.pt"
    (onnx_export.parent / "weights" / "model.pt").rename(moved)
    try:
        proc = _eval("--artifacts", onnx_export, "--data", root, cwd=elsewhere)
        assert proc.returncode == 2 and "pass --weights PATH to the same file" in proc.stderr, proc.stderr
        proc = _eval("--artifacts", onnx_export, "--data", root, "--weights", moved, cwd=elsewhere)
        assert proc.returncode == 0, proc.stderr
        assert f"{expected * 100:.2f} %" in proc.stdout
    finally:
        moved.rename(onnx_export.parent / "weights" / "model.pt")


@pytest.mark.slow
def test_every_files_hash_is_checked_before_the_first_is_evaluated(
    onnx_export: Path, known_folder: tuple[Path, Path, float], tmp_path: Path
) -> None:
    import shutil

    from shufflenet.export.manifest import ManifestError

    _, root, _ = known_folder
    export = tmp_path / "export"
    shutil.copytree(onnx_export, export)
    last = json.loads((export / "manifest.json").read_text())["artifacts"][-1]["path"]
    with (export / last).open("ab") as f:
        f.write(b"\0")
    said: list[str] = []
    with pytest.raises(ManifestError, match=last):
        evaluate_artifacts(export, root, progress=said.append)
    assert not [s for s in said if s.startswith("evaluating")], said  # not a file was run first


@pytest.mark.slow
def test_unreadable_images_are_skipped_and_named(onnx_export: Path, known_folder: tuple[Path, Path, float],
                                                 tmp_path: Path) -> None:  # fmt: skip
    import shutil

    _, root, expected = known_folder
    data = tmp_path / "data"
    shutil.copytree(root, data)
    broken = next(data.iterdir()) / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    said: list[str] = []
    results = evaluate_artifacts(onnx_export, data, progress=said.append)
    assert results[0].images == 10 and results[0].top1 == expected
    line = next(s for s in said if "unreadable, skipped" in s)
    assert "1 of 11 images" in line and f"{broken.parent.name}/broken.jpg" in line


def test_class_folders_and_labels_compare_in_one_unicode_form(tmp_path: Path) -> None:
    """A folder named on macOS (NFD) is the label typed elsewhere (NFC), and the other way round."""
    import unicodedata

    from shufflenet.benchmarks.accuracy.evaluate import load_labelled

    for cls in (unicodedata.normalize("NFD", "café"), "thé"):
        (tmp_path / cls).mkdir()
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / cls / "a.png")
    data = load_labelled(tmp_path, CIFAR10, ["café", unicodedata.normalize("NFD", "thé"), "other"])
    assert data.labels.tolist() == [0, 1]


def test_an_unwritable_json_is_found_before_the_evaluation(known_folder: tuple[Path, Path, float], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    from shufflenet.benchmarks.cli_eval import main as eval_main

    ckpt, root, _ = known_folder
    assert eval_main(["--checkpoint", str(ckpt), "--data", str(root), "--json", "/proc/x/eval.json"]) == 2
    captured = capsys.readouterr()
    assert "--json /proc/x/eval.json is not writable" in captured.err and captured.out == ""  # no table: no work
