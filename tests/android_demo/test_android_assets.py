"""The app's assets agree with the model: label count = model outputs, preprocessing = manifest, right file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from android_demo_helpers import DEMO, run, tflite_entries

pytestmark = pytest.mark.slow  # needs the session export (about 40 s)

PREPARE = DEMO / "scripts" / "prepare_assets.py"


def prepare(export_dir: Path, out: Path, *extra: str) -> dict:
    proc = run([sys.executable, str(PREPARE), "--artifacts", str(export_dir), "--out", str(out), *extra])
    return json.loads(proc.stdout)


def output_size(model: Path) -> int:
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(model)).get_output_details()[0]
    return int(np.prod(details["shape"]))


@pytest.mark.parametrize("choice", ["default", "fp32", "fp16-arith"])
def test_assets_agree_with_the_model(export_dir: Path, manifest: dict, tmp_path: Path, choice: str) -> None:
    entries = tflite_entries(manifest)
    extra = () if choice == "default" else ("--file", Path(entries[choice]["path"]).name)
    summary = prepare(export_dir, tmp_path, *extra)
    chosen = entries["int8" if choice == "default" else choice]
    assert summary["model"] == Path(chosen["path"]).name
    model = tmp_path / "model.tflite"
    assert hashlib.sha256(model.read_bytes()).hexdigest() == chosen["sha256"]

    labels = (tmp_path / "labels.txt").read_text().splitlines()
    assert len(labels) == output_size(model) == manifest["variant"]["num_classes"]

    prep = json.loads((tmp_path / "preprocessing.json").read_text())
    for key, value in manifest["preprocessing"].items():
        assert prep[key] == value, key
    assert prep["arch"] == manifest["arch"]
    assert prep["input_size"] == manifest["input_size"]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["chelsea.png", "coffee.png"]


def test_unknown_file_is_refused_with_the_choices(export_dir: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(PREPARE), "--artifacts", str(export_dir), "--out", str(tmp_path), "--file", "nope.tflite"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: nope.tflite is not a .tflite file of this export")
    assert "_float32.tflite" in proc.stderr and proc.stderr.count("\n") == 1


def test_a_file_compiled_for_an_npu_is_not_the_apps_model(small_npu_export: Path, tmp_path: Path) -> None:
    """The app runs LiteRT's CPU (and GPU) kernels; an NPU file needs Qualcomm's dispatch library on the phone."""
    entries = json.loads((small_npu_export / "manifest.json").read_text())["artifacts"]
    npu = next(Path(e["path"]).name for e in entries if e.get("npu"))
    cpu = next(Path(e["path"]).name for e in entries if not e.get("npu"))
    out = tmp_path / "assets"
    proc = subprocess.run([sys.executable, str(PREPARE), "--artifacts", str(small_npu_export), "--out", str(out),
                           "--file", npu], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"error: {npu} is compiled for the SM8650 NPU" in proc.stderr and cpu in proc.stderr
    assert not out.exists()
    assert prepare(small_npu_export, out)["model"] == cpu  # without --file: the CPU int8 file, never the NPU one


def test_an_assets_folder_holding_other_files_is_not_overwritten(export_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "assets"
    out.mkdir()
    (out / "model.tflite").write_bytes(b"the user's own model")
    (out / "notes.txt").write_text("mine")
    proc = subprocess.run([sys.executable, str(PREPARE), "--artifacts", str(export_dir), "--out", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "holds notes.txt, which this script did not write" in proc.stderr, proc.stderr
    assert (out / "model.tflite").read_bytes() == b"the user's own model" and (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    (out / "model.tflite").unlink()
    first = prepare(export_dir, out)  # empty: filled; its own output: replaced
    assert prepare(export_dir, out) == first
    assert sorted(p.name for p in out.iterdir()) == ["labels.txt", "model.tflite", "preprocessing.json", "samples"]
    assert [p.name for p in tmp_path.iterdir()] == ["assets"]  # no temporary folder left beside it


def copy_flat(export_dir: Path, dest: Path) -> Path:
    """The export's plain files (enough for prepare_assets, which reads only .tflite, labels and preprocessing)."""
    dest.mkdir()
    for f in export_dir.iterdir():
        if f.is_file():
            (dest / f.name).write_bytes(f.read_bytes())
    return dest


def prepare_fails(export: Path, out: Path) -> str:
    proc = subprocess.run([sys.executable, str(PREPARE), "--artifacts", str(export), "--out", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and not (out / "model.tflite").exists(), proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr  # one line, no traceback
    return proc.stderr


@pytest.mark.parametrize("name", ["labels.txt", "preprocessing.json"])
def test_altered_support_file_is_refused(export_dir: Path, tmp_path: Path, name: str) -> None:
    """labels.txt and preprocessing.json are checked against the manifest's sha256 like the model file."""
    broken = copy_flat(export_dir, tmp_path / "export")
    with (broken / name).open("a") as f:
        f.write("\n")
    assert f"{name} was altered after export" in prepare_fails(broken, tmp_path / "assets")


def test_inconsistent_export_is_refused(export_dir: Path, tmp_path: Path) -> None:
    """A preprocessing.json that disagrees with the manifest must not reach the app, even when the manifest's
    hash was updated to match it (a hand-edited, resealed export)."""
    from shufflenet.model.files import sha256_path

    broken = copy_flat(export_dir, tmp_path / "export")
    prep = json.loads((broken / "preprocessing.json").read_text())
    prep["colour_order"] = "BGR" if prep["colour_order"] == "RGB" else "RGB"
    (broken / "preprocessing.json").write_text(json.dumps(prep))
    manifest = json.loads((broken / "manifest.json").read_text())
    for f in manifest["files"]:
        f["sha256"] = sha256_path(broken / f["path"])
    (broken / "manifest.json").write_text(json.dumps(manifest))
    assert "colour_order" in prepare_fails(broken, tmp_path / "assets")
