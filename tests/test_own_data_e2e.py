"""A user's own photos to phone-ready files, with the commands a user runs: a folder of real photos (3 classes,
every image its own size, JPEG, PNG and WebP, some stored sideways with EXIF orientation) -> shufflenet-train
from scratch and fine-tuned from an official-layout 1000-class ImageNet file -> shufflenet-export --format all ->
shufflenet-eval (checkpoint and every exported file) -> shufflenet-parity (x86, and emulated arm64 where the
set-up script has run) -> the Android app's assets. The folder's class names must be everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["bird", "deer", "ship"]  # tests/conftest.py OWN_CLASSES
SMALL = "shufflenet_v1_g3_0.5x_cifar"  # the official g3 0.5x backbone with the small-image stem: 32x32 inputs


def cli(module: str, *args: str | Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def journey(own_photos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("journey")
    from shufflenet.model import build_model
    from shufflenet.model.checkpoint import to_official_state_dict

    torch.manual_seed(0)  # an official-layout file: {"state_dict": {"module.…": …}}, 1000 classes
    official = d / "ShuffleNetV1_0.5x_g3.pth.tar"
    torch.save({"state_dict": to_official_state_dict(build_model("shufflenet_v1_g3_0.5x"))}, official)
    common = ("--data", own_photos["train"], "--val", own_photos["test"], "--cache", d / "cache", "--threads", "1")
    scratch = cli("shufflenet.model.cli_train", *common, "--arch", "shufflenet_v1_g3_0.25x_cifar", "--epochs", "2",
                  "--out", d / "scratch.pt")  # fmt: skip
    assert scratch.returncode == 0, scratch.stderr
    tuned = cli("shufflenet.model.cli_train", *common, "--arch", SMALL, "--init-from", official, "--epochs", "3",
                "--out", d / "tuned.pt")  # fmt: skip
    assert tuned.returncode == 0, tuned.stderr
    assert "1000-class classifier is replaced by a new one for the 3 classes of the data (bird, deer, ship)" in (
        tuned.stderr
    )
    export = cli("shufflenet.export.cli", "--weights", d / "tuned.pt", "--format", "all", "--output", d / "export")
    assert export.returncode == 0, export.stdout + export.stderr
    return {"scratch": d / "scratch.pt", "tuned": d / "tuned.pt", "export": d / "export", "dir": d}


def test_checkpoints_and_export_carry_the_folders_classes(journey: dict[str, Path]) -> None:
    from shufflenet.export.runtimes.coreml_eval import load_program
    from shufflenet.model import load_model

    for name in ("scratch", "tuned"):
        _, variant, ckpt = load_model(journey[name])
        assert variant.class_names() == CLASSES and ckpt.meta["classes"] == CLASSES
    out = journey["export"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"] == CLASSES and manifest["arch"] == SMALL
    assert (out / "labels.txt").read_text().splitlines() == CLASSES
    formats = {e["format"] for e in manifest["artifacts"]}
    assert formats == {"onnx", "tflite", "coreml", "executorch"}
    for e in manifest["artifacts"]:
        assert e["num_classes"] == 3 and not e["parity"].get("nonfinite")
        if e["format"] == "coreml" and e["variant"] == "image":
            assert list(load_program(out / e["path"]).classifier.labels) == CLASSES


def test_eval_of_checkpoints_and_every_exported_file(journey: dict[str, Path], own_photos: dict[str, Path],
                                                    tmp_path: Path) -> None:  # fmt: skip
    for name in ("scratch", "tuned"):
        proc = cli("shufflenet.benchmarks.cli_eval", "--checkpoint", journey[name], "--data", own_photos["test"])
        assert proc.returncode == 0, proc.stderr
    js = tmp_path / "eval.json"
    proc = cli("shufflenet.benchmarks.cli_eval", "--artifacts", journey["export"], "--data", own_photos["test"],
               "--json", js)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(js.read_text())
    assert {r["format"] for r in rows} == {"pytorch", "onnx", "tflite", "coreml", "executorch"}
    assert all(r["images"] == 24 for r in rows)
    fp32 = [r for r in rows if r["precision"] == "fp32"]
    assert all(r["top1"] == fp32[0]["top1"] for r in fp32)  # every float32 file answers as PyTorch does


def test_parity_on_x86_and_arm64(journey: dict[str, Path], own_photos: dict[str, Path]) -> None:
    proc = cli("shufflenet.benchmarks.cli_parity", "--artifacts", journey["export"], "--images", own_photos["test"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from shufflenet.export.runtimes.litert_arm64 import Arm64Env, Arm64Unavailable

    try:
        Arm64Env.find()
    except Arm64Unavailable:
        pytest.skip("x86 parity passed; the emulated arm64 runtime is not set up (bash scripts/setup_arm64.sh)")
    proc = cli("shufflenet.benchmarks.cli_parity", "--artifacts", journey["export"], "--images", own_photos["test"],
               "--runtime", "litert-arm64", "--cpu", "cortex-a53", "--limit", "6")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_app_assets_carry_the_folders_labels(journey: dict[str, Path], tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "android_demo" / "scripts" / "prepare_assets.py"),
                           "--artifacts", str(journey["export"]), "--out", str(tmp_path / "assets")],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "assets" / "labels.txt").read_text().splitlines() == CLASSES
    assert json.loads((tmp_path / "assets" / "preprocessing.json").read_text())["num_classes"] == 3
