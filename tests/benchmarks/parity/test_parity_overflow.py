"""A model whose logits exceed float16's range (a diverged training run): the float16 Core ML file's outputs are
inf/NaN. That is a failure of that file, reported as overflow, by the export (exit 1) and by shufflenet-parity
(exit 1); never a PSNR of nan shown as a pass, never a math domain error."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from shufflenet.export.metrics import compare, psnr_db
from shufflenet.model.checkpoint import OWN_FORMAT
from shufflenet.model.registry import get_variant

ARCH = "shufflenet_v1_g3_0.25x_cifar"


def test_non_finite_outputs_are_counted_not_measured() -> None:
    ref = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], np.float32)
    test = np.array([[1.0, 2.0, np.inf], [np.nan, 2.0, 1.0]], np.float32)
    m = compare(ref, test)
    assert m.nonfinite == 2 and m.psnr_db == -math.inf and m.top1_agreement == 0.0
    assert psnr_db(ref, np.array([[1, 2, np.inf], [3, 2, 1]], np.float32)) == -math.inf  # was a math domain error
    assert compare(ref, ref).nonfinite == 0


@pytest.fixture(scope="module")
def overflowing_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-class model whose logits are about 1e5 (float32 holds them, float16 overflows above 65504)."""
    torch.manual_seed(0)
    model = get_variant(ARCH).with_classes(["boat", "elk", "jet"]).build().eval()
    with torch.no_grad():
        model.classifier[0].weight.mul_(1e9)
        assert model(torch.rand(1, 3, 32, 32)).abs().max() > 1e5
    path = tmp_path_factory.mktemp("diverged") / "diverged.pt"
    torch.save({"format": OWN_FORMAT, "arch": ARCH, "state_dict": model.state_dict(),
                "classes": ["boat", "elk", "jet"]}, path)  # fmt: skip
    return path


@pytest.mark.slow
def test_overflow_fails_the_file_in_export_and_parity(overflowing_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    exp = subprocess.run([sys.executable, "-m", "shufflenet.export.cli", "--weights", str(overflowing_checkpoint),
                          "--format", "coreml", "--precision", "fp16", "--output", str(out)],
                         capture_output=True, text=True)  # fmt: skip
    assert exp.returncode == 1, exp.stdout + exp.stderr
    assert "Traceback" not in exp.stderr and "math domain" not in exp.stdout + exp.stderr
    errors = [ln for ln in exp.stderr.splitlines() if ln.startswith("error: ")]
    assert errors and all("overflow" in ln and "fp16" in ln for ln in errors), exp.stderr
    assert "PSNR nan" not in exp.stdout and "FAIL: " in exp.stdout and "(overflow)" in exp.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(e["parity"]["nonfinite"] > 0 for e in manifest["artifacts"])
    par = subprocess.run([sys.executable, "-m", "shufflenet.benchmarks.cli_parity", "--artifacts", str(out)],
                         capture_output=True, text=True)  # fmt: skip
    assert par.returncode == 1, par.stdout + par.stderr
    assert "math domain" not in par.stdout + par.stderr and "Traceback" not in par.stderr
    fails = [ln for ln in par.stdout.splitlines() if ln.startswith("FAIL")]
    assert fails and all("overflow" in ln for ln in fails), par.stdout
    rows = [ln for ln in par.stdout.splitlines() if not ln.startswith("FAIL")]
    assert not [ln for ln in rows if re.search(r"\bnan\b", ln, re.IGNORECASE)], par.stdout
