"""`shufflenet-export` from the command line: bad input ends in one line and leaves nothing behind;
the export works with no network at all."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from shufflenet.model import build_model
from shufflenet.model.checkpoint import to_official_state_dict

ARCH = "shufflenet_v1_g3_0.25x_cifar"


def export_cli(*args: str, cwd: Path | None = None, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    cmd = [*prefix, sys.executable, "-m", "shufflenet.export.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=900)


def assert_one_line_error(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and fragment in errors[0], proc.stderr[-2000:]


def assert_nothing_left(parent: Path) -> None:
    assert not [p.name for p in parent.iterdir() if p.name.startswith(".")], list(parent.iterdir())


@pytest.fixture()
def g8_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "g8.pth"
    torch.save({"state_dict": to_official_state_dict(build_model("shufflenet_v1_g8_0.5x"))}, path)
    return path


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--arch", "shufflenet_v1_g3_7x", "--random-init"], "unknown variant 'shufflenet_v1_g3_7x'"),
        (["--arch", "shufflenet_v1_g3_1.0x"], "has no shipped weights; pass --weights PATH or --random-init"),
        (["--random-init", "--arch", ARCH, "--input-size", "4"], "too small"),
        (["--random-init", "--arch", ARCH, "--input-size", "abc"], None),
        (["--random-init", "--arch", ARCH, "--format", "onnx", "--precision", "int8"], "onnx supports fp32"),
    ],
)
def test_bad_requests(tmp_path: Path, args: list[str], fragment: str | None) -> None:
    out = tmp_path / "out"
    proc = export_cli(*args, "--output", str(out))
    if fragment is None:  # argparse's own usage error
        assert proc.returncode == 2 and "Traceback" not in proc.stderr and "input size" in proc.stderr
    else:
        assert_one_line_error(proc, fragment)
    assert not out.exists()
    assert_nothing_left(tmp_path)


def test_unreadable_and_mismatched_weights(tmp_path: Path, g8_checkpoint: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(bytes(range(1, 251)) * 4)  # neither text, nor a zip archive, nor a pickle
    out = tmp_path / "out"
    assert_one_line_error(export_cli("--weights", str(junk), "--output", str(out)), "is not a PyTorch checkpoint")
    proc = export_cli("--weights", str(g8_checkpoint), "--arch", "shufflenet_v1_g3_0.5x", "--output", str(out))
    assert_one_line_error(proc, "is a shufflenet_v1_g8_0.5x checkpoint, not shufflenet_v1_g3_0.5x")
    assert not out.exists()


def test_calibration_folder_problems(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a jpeg")
    (bad / "b.png").write_text("nor a png")
    out = tmp_path / "out"
    base = ["--random-init", "--arch", ARCH, "--format", "tflite", "--precision", "int8", "--output", str(out)]
    assert_one_line_error(export_cli(*base, "--calib", str(empty)), "holds no image files")
    assert_one_line_error(export_cli(*base, "--calib", str(bad)), "none of the 2 images")
    assert_one_line_error(export_cli(*base, "--calib", str(tmp_path / "nope")), "does not exist")
    assert not out.exists()


@pytest.mark.slow
def test_unreadable_calibration_images_are_named_and_one_image_is_warned_of(tmp_path: Path) -> None:
    from PIL import Image

    calib = tmp_path / "calib"
    calib.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(calib / "a.png")
    (calib / "b.png").write_text("not a png")
    out = tmp_path / "out"
    proc = export_cli("--random-init", "--arch", ARCH, "--format", "tflite", "--precision", "int8", "--no-parity",
                      "--calib", str(calib), "--output", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "calibration: 1 of 2 images unreadable, skipped: b.png (" in proc.stderr
    assert "warning: int8 calibration on 1 image of" in proc.stderr and "--calib a folder of at least" in proc.stderr
    assert json.loads((out / "manifest.json").read_text())["calibration"]["skipped"] == 1


def test_the_default_output_is_a_free_folder(tmp_path: Path) -> None:
    """After `make demo` (artifacts/default and its log), an export without --output was refused: artifacts was
    a folder of other files. It now goes to a new folder named after the variant."""
    (tmp_path / "artifacts" / "default").mkdir(parents=True)
    (tmp_path / "artifacts" / "default.export.log").write_text("the demo's log")
    args = ("--random-init", "--arch", ARCH, "--format", "onnx", "--precision", "fp32", "--no-parity")
    first = export_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert f"-> artifacts/{ARCH}/" in first.stdout and (tmp_path / "artifacts" / ARCH / "manifest.json").is_file()
    second = export_cli(*args, cwd=tmp_path)  # never over the first one either
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"-> artifacts/{ARCH}-2/" in second.stdout
    assert (tmp_path / "artifacts" / "default.export.log").read_text() == "the demo's log"


def test_unwritable_output(tmp_path: Path) -> None:
    proc = export_cli("--random-init", "--arch", ARCH, "--format", "onnx", "--output", "/proc/shufflenet/out")
    assert_one_line_error(proc, "is not writable")
    afile = tmp_path / "file"
    afile.write_text("x")
    assert_one_line_error(export_cli("--random-init", "--arch", ARCH, "--output", str(afile)), "is not a folder")


def test_missing_dependency_named(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['coremltools'] = None\n"
        "from shufflenet.export.cli import main\n"
        f"sys.exit(main(['--random-init', '--arch', '{ARCH}', '--format', 'coreml', '--output', sys.argv[1]]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True)
    assert_one_line_error(proc, "format coreml needs coremltools, which is not installed")


def test_failure_mid_export_leaves_previous_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous export")
    proc = export_cli("--random-init", "--arch", ARCH, "--format", "tflite", "--precision", "int8",
                      "--calib", str(tmp_path / "missing"), "--output", str(out))  # fmt: skip
    assert proc.returncode == 2
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert_nothing_left(tmp_path)


@pytest.mark.slow
def test_export_with_network_unreachable(tmp_path: Path) -> None:
    """Run the whole TFLite + ONNX export inside a network namespace with no interface but loopback."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not available here (needs root or user namespaces)")
    probe = subprocess.run([unshare, "-n", sys.executable, "-c",
                            "import socket; socket.create_connection(('pypi.org', 443), timeout=3)"],
                           capture_output=True, text=True)  # fmt: skip
    assert probe.returncode != 0  # really offline
    out = tmp_path / "offline"
    proc = export_cli("--random-init", "--arch", ARCH, "--format", "onnx", "tflite", "--precision", "fp32,int8",
                      "--output", str(out), cwd=tmp_path, prefix=(unshare, "-n"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["precision"] for e in manifest["artifacts"] if e["format"] == "tflite"} == {"fp32", "int8"}
    # nothing downloaded into the cwd: only the export and its library log beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["offline", "offline.export.log"]
