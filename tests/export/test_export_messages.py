"""What `shufflenet-export` says when a request is bad: checked before heavy libraries load, refused before
unbounded work, and never preceded by TensorFlow's start-up lines."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from shufflenet.export.budget import estimate, heartbeat
from shufflenet.export.pipeline import ExportConfig, ExportError, run_export
from shufflenet.model.registry import get_variant

ARCH = "shufflenet_v1_g3_0.25x_cifar"


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--calib", "{tmp}/nope"], "--calib {tmp}/nope does not exist"),
        (["--calib", "{tmp}/a.pth"], "is a file, not a folder"),
        (["--weights", "{tmp}"], "--weights {tmp} is a folder, not a checkpoint file"),
        (["--weights", "{tmp}/missing.pth"], "does not exist"),
        (["--labels", "{tmp}/none.txt"], "--labels {tmp}/none.txt does not exist"),
        (["--output", "."], "--output . is the current folder"),
        (["--npu", "qualcomm:SM9999"], "unknown Qualcomm SoC SM9999; choose from SA8255, SA8295, SM8350, SM8450"),
        (["--npu", "mediatek:MT6989"], "unknown NPU vendor 'mediatek'"),
    ],
)
def test_arguments_are_checked_before_torch_or_tensorflow_load(tmp_path: Path, args: list[str], fragment: str) -> None:
    (tmp_path / "a.pth").write_bytes(b"x")
    argv = [a.format(tmp=tmp_path) for a in args]
    code = f"""
        import sys
        from shufflenet.export.cli import main
        rc = main({argv!r} + ["--format", "tflite"])
        heavy = sorted(m for m in ("torch", "tensorflow", "onnx", "coremltools") if m in sys.modules)
        print("heavy:", ",".join(heavy))
        sys.exit(rc)
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert fragment.format(tmp=tmp_path) in proc.stderr
    assert proc.stdout.strip() == "heavy:"  # nothing heavy was imported to find that out


NOISE = ("tensorflow", "oneDNN", "absl", "cpu_feature_guard", "coremltools.", "I0000", "W0000")


@pytest.mark.slow
@pytest.mark.tensorflow_graph
def test_late_error_is_not_preceded_by_tensorflow_lines(tmp_path: Path) -> None:
    """An error raised after TensorFlow has started (here: coremltools missing, found once the TFLite
    converter's dependencies are loaded) is one line; TensorFlow's C++ start-up lines (which lines depends on the
    CPU and on oneDNN being on or off) did not reach the terminal, and the refused export left nothing behind,
    not even its log. (A bad --calib folder is now reported before TensorFlow loads, so it no longer shows this.)"""
    code = (
        "import sys; sys.modules['coremltools'] = None\n"
        "from shufflenet.export.cli import main\n"
        f"rc = main(['--random-init', '--arch', '{ARCH}', '--format', 'tflite', 'coreml',"
        " '--output', sys.argv[1]])\n"
        "print('tensorflow loaded:', 'tensorflow' in sys.modules)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.strip() == "tensorflow loaded: True"  # it did start before the error
    lines = proc.stderr.rstrip().splitlines()
    assert lines[-1].startswith("error: format coreml needs coremltools") and "Traceback" not in proc.stderr
    assert not [ln for ln in lines if any(n in ln for n in NOISE)], proc.stderr
    assert list(tmp_path.iterdir()) == []  # no output, no temporary folder, no OUTPUT.export.log


def test_bad_calibration_folder_fails_before_tensorflow_loads(tmp_path: Path) -> None:
    """A --calib folder with no readable image is reported before TensorFlow (and its seconds of start-up)."""
    bad = tmp_path / "calib"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a jpeg")
    code = f"""
        import sys
        from shufflenet.export.cli import main
        rc = main(["--random-init", "--arch", "{ARCH}", "--format", "tflite", "--precision", "int8",
                   "--calib", {str(bad)!r}, "--output", {str(tmp_path / "out")!r}])
        print("tensorflow loaded:", "tensorflow" in sys.modules)
        sys.exit(rc)
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("error: none of the 1 images")
    assert proc.stdout.strip() == "tensorflow loaded: False"
    assert not (tmp_path / "out").exists()


REFUSED = {
    "7": ["--input-size", "7"],
    "1x1": ["--input-size", "1x1"],
    "10000x1": ["--input-size", "10000x1"],
    "1x10000": ["--input-size", "1x10000"],
    "10000": ["--input-size", "10000"],  # 10000x10000 needs about 0.5 TB
    "calib": ["--precision", "int8", "--calib", "{bad}"],  # no readable image
}


def test_a_refused_export_leaves_nothing_not_even_its_log(tmp_path: Path) -> None:
    """Every refusal is one error line and exit 2, and leaves nothing: no output, no OUTPUT.export.log, no folder
    made for them; a log an earlier export left keeps exactly its content."""
    bad = tmp_path / "calib"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a jpeg")
    runs = tmp_path / "runs"
    runs.mkdir()
    earlier = runs / "kept.export.log"
    earlier.write_text("an earlier export's log\n")
    cases = {name: [a.format(bad=bad) for a in args] for name, args in REFUSED.items()}
    code = f"""
        import sys
        from shufflenet.export.cli import main
        base = ["--random-init", "--arch", "{ARCH}", "--format", "onnx", "tflite", "--no-parity"]
        for name, args in {cases!r}.items():
            rc = main(base + args + ["--output", {str(runs)!r} + "/new/" + name])
            print(name, rc, flush=True)
        print("kept", main(base + ["--input-size", "7", "--output", {str(earlier.with_name("kept"))!r}]))
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [w for name in [*cases, "kept"] for w in (name, "2")], proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == len(cases) + 1 and "Traceback" not in proc.stderr
    assert sorted(p.name for p in runs.iterdir()) == ["kept.export.log"]  # not even runs/new
    assert earlier.read_text() == "an earlier export's log\n"


def _export_random_init(*args: str) -> subprocess.CompletedProcess[str]:
    """shufflenet-export of the test variant with seeded random weights and no parity step."""
    cmd = [sys.executable, "-m", "shufflenet.export.cli", "--random-init", "--arch", ARCH, "--no-parity", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def test_unreadable_calibration_images_are_counted_on_screen(tmp_path: Path) -> None:
    """2 of 6 images cannot be read: the export goes on with 4 and says so on the screen, not only in the log."""
    from PIL import Image

    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(calib / f"ok{i}.png")
    (calib / "broken.jpg").write_bytes(b"not a jpeg")
    (calib / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    proc = _export_random_init("--format", "tflite", "--precision", "int8", "--calib", str(calib), "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "calibration: 2 of 6 images unreadable, skipped: " in proc.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["calibration"]["images"] == 4 and m["calibration"]["skipped"] == 2


def test_an_unread_calibration_folder_is_not_refused(tmp_path: Path) -> None:
    """--calib only feeds int8 calibration: without an int8 file to write, an unreadable folder is not an error
    (it is never read); the screen says it is not used."""
    bad = tmp_path / "calib"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    proc = _export_random_init("--format", "onnx", "--precision", "fp32", "--calib", str(bad), "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"--calib {bad} is not used: no int8 file is written" in proc.stderr
    assert json.loads((out / "manifest.json").read_text())["calibration"] is None


def test_estimate_grows_with_input_size_and_int8() -> None:
    build = get_variant(ARCH).build
    plan = {"onnx": ("fp32",)}
    small, big = estimate(build, (32, 32), plan, 0, 96), estimate(build, (512, 512), plan, 0, 96)
    assert small.activation_bytes * 200 < big.activation_bytes and small.peak_bytes < big.peak_bytes
    assert big.macs > 200 * small.macs and big.seconds > small.seconds
    int8 = estimate(build, (512, 512), {"tflite": ("int8",)}, 96, 96)
    assert int8.peak_bytes > big.peak_bytes  # calibration keeps every activation and holds its images


def test_an_export_that_cannot_fit_is_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "huge"
    with pytest.raises(ExportError, match=r"an export at 20000x20000 needs .* GB of memory .* but only .* GB is free"):
        run_export(ExportConfig(output=out, arch=ARCH, random_init=True, input_size=(20000, 20000)))
    assert list(tmp_path.iterdir()) == []  # no temporary folder, no lock file, no output


def test_heartbeat_speaks_during_a_silent_step() -> None:
    said: list[str] = []
    with heartbeat(said.append, every=0.2) as say:
        say("[1/3] TFLite int8")
        time.sleep(1.6)
    assert said[0] == "[1/3] TFLite int8"
    assert any(s.startswith("  ... still working on: [1/3] TFLite int8") for s in said[1:])
