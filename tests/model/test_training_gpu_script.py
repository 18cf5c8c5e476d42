"""scripts/train_gpu.sh, the one-call GPU training script, run here on the CPU with a small real CIFAR-10 archive.

What cannot run here is the CUDA device itself; the script's every other step (namespace without installing,
extraction, training, the per-epoch log rebuilt from the checkpoint) is the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_gpu.sh"
ARCH = "shufflenet_v1_g3_0.25x_cifar"


def _run(archive: Path, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # The script's own recipe (TrivialAugment, Cutout, EMA, --compile); the compile through aot_eager, since
    # inductor's C++ code generation takes minutes on a CPU (CUDA runs use inductor with CUDA graphs).
    full = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "ARCH": ARCH,
            "EXTRA": "--compile-backend aot_eager", **env}  # fmt: skip
    return subprocess.run(["bash", str(SCRIPT), str(archive), str(out)], capture_output=True, text=True, env=full)


@pytest.mark.slow  # six Python start-ups and two short trainings
def test_gpu_script_trains_from_an_archive_on_the_cpu(cifar_subset: Path, tmp_path: Path) -> None:
    archive = tmp_path / "cifar10-small.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # the shared archive's layout: cifar10/{train,test}/<class>/*.jpg
        for split in ("train", "test"):
            tar.add(cifar_subset, arcname=f"cifar10/{split}")
    out = tmp_path / "out"
    proc = _run(archive, out, EPOCHS="1", BATCH="30", LR="0.05", WARMUP="0", TIME_LIMIT="300")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["env.txt", "epochs.json", "last.pt", "train.log"]
    env = (out / "env.txt").read_text()
    # the code came from this tree through the script's namespace folder, not from an installed package
    assert "/py/shufflenet/model/__init__.py" in env and "training exit status 0" in env
    log = json.loads((out / "epochs.json").read_text())
    assert log["arch"] == ARCH and log["epoch"] == 1 and [e["epoch"] for e in log["history"]] == [1]
    assert log["config"]["batch_size"] == 30 and log["config"]["device"] == "cpu"
    assert all(e["test_acc"] is not None for e in log["history"])
    assert "epoch 1/1" in (out / "train.log").read_text()
    saved = torch.load(out / "last.pt", weights_only=False)
    assert saved["epoch"] == 1 and saved["hardware"].startswith("CPU")
    cfg = saved["config"]
    assert (cfg["compile"], cfg["augment"], cfg["cutout"], cfg["ema"]) == (True, "trivialaugment", 16, 0.999)
    assert cfg["time_budget"] == 490 and cfg["eval_every"] == 10 and "ema_state_dict" in saved
    assert log["history"][-1]["ema_test_acc"] is not None  # the last epoch is always tested, the average too
    # RESUME continues a carried checkpoint: one more epoch on top of the one done
    proc = _run(archive, out, EPOCHS="2", BATCH="30", LR="0.05", WARMUP="0", RESUME=str(out / "last.pt"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = json.loads((out / "epochs.json").read_text())
    assert [e["epoch"] for e in log["history"]] == [1, 2]


def test_gpu_script_without_archive_is_one_line(tmp_path: Path) -> None:
    proc = _run(tmp_path / "absent.tar.gz", tmp_path / "out")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "archive" in proc.stderr and "not found" in proc.stderr
