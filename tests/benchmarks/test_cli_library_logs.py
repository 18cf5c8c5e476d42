"""`shufflenet-eval` and `shufflenet-parity` keep what the libraries print themselves (TensorFlow's start-up lines,
loaded with coremltools, written straight to file descriptor 2) off the terminal: they go to ARTIFACTS.eval.log /
ARTIFACTS.parity.log beside the export folder, as an export's go to OUTPUT.export.log; `--verbose` shows them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def startup_lines() -> list[str]:
    """What importing coremltools prints on this host (without the absl lines' time stamps)."""
    proc = subprocess.run([sys.executable, "-c", "import coremltools"], capture_output=True, text=True, timeout=300)
    lines = [ln.rsplit("] ", 1)[-1].strip() for ln in proc.stderr.splitlines() if ln.strip()]
    if not lines:
        pytest.skip("importing coremltools prints nothing on this host: nothing to keep off the terminal")
    return lines


@pytest.fixture
def coreml_export(small_export: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the session's small export (its log lands beside it) and a labelled folder of 4 images."""
    art = tmp_path / "export"
    shutil.copytree(small_export, art)
    classes = (art / "labels.txt").read_text().split()
    data = tmp_path / "data"
    rng = np.random.default_rng(5)
    for i in range(4):
        dest = data / classes[i % 2] / f"{i}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(dest)
    return art, data


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name(tool)
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=900)


def test_eval_sends_library_output_to_its_log(coreml_export: tuple[Path, Path], startup_lines: list[str]) -> None:
    art, data = coreml_export
    proc = _run("shufflenet-eval", "--artifacts", str(art), "--data", str(data), "--formats", "coreml")
    assert proc.returncode == 0, proc.stderr
    log = art.with_name("export.eval.log")
    assert f"library logs: {log}" in proc.stderr
    assert "evaluating" in proc.stderr and "coreml-numpy" in proc.stdout  # progress and table still shown
    text = log.read_text()
    for line in startup_lines:
        assert line not in proc.stderr, line
        assert line in text, line


def test_eval_verbose_shows_library_output(coreml_export: tuple[Path, Path], startup_lines: list[str]) -> None:
    art, data = coreml_export
    proc = _run("shufflenet-eval", "--artifacts", str(art), "--data", str(data), "--formats", "coreml", "--verbose")
    assert proc.returncode == 0, proc.stderr
    # TensorFlow's own lines (the known noise stays filtered on any terminal: coremltools' "not tested with" and
    # scikit-learn lines, torchao's CUDA-only kernels and Triton; cli_common.KnownLibraryNoise).
    noise = ("coremltools", "scikit-learn", "torchao", "triton")
    native = [line for line in startup_lines if not any(n in line for n in noise)]
    assert native and all(line in proc.stderr for line in native), proc.stderr
    assert not art.with_name("export.eval.log").exists()


def test_parity_sends_library_output_to_its_log(coreml_export: tuple[Path, Path], startup_lines: list[str]) -> None:
    art, data = coreml_export
    images = next(p for p in sorted(data.iterdir()) if p.is_dir())
    proc = _run("shufflenet-parity", "--artifacts", str(art), "--images", str(images))
    assert proc.returncode in (0, 1), proc.stderr  # 1: a file below its bar on noise images (the report says which)
    assert "Traceback" not in proc.stderr and "PSNR" in proc.stdout
    log = art.with_name("export.parity.log")
    assert f"library logs: {log}" in proc.stderr
    text = log.read_text()
    for line in startup_lines:
        assert line not in proc.stderr, line
        assert line in text, line
