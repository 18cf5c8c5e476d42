"""`shufflenet-export --output`: never destroys a user's files, one export at a time, nothing left behind after
SIGTERM or kill -9, every file listed in the manifest, the umask honoured, a full disk named. Real exports into
temporary folders, run as real processes (ONNX only where the format does not matter: seconds each)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shufflenet.export.manifest import SCHEMA, sha256_path

ARCH = "shufflenet_v1_g3_0.25x_cifar"
QUICK = ("--random-init", "--arch", ARCH, "--format", "onnx", "--no-parity")


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "shufflenet.export.cli", *args]


def export_cli(*args: str, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(*args), capture_output=True, text=True, cwd=cwd, timeout=900, **kw)


def one_error_line(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert proc.stderr.rstrip().splitlines()[-1] == errors[0]
    for f in fragments:
        assert f in errors[0], errors[0]
    return errors[0]


def hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def wait_for(pred, what: str, proc: subprocess.Popen, limit: float = 600.0) -> None:
    t0 = time.time()
    while not pred():
        if proc.poll() is not None:
            raise AssertionError(f"the export ended (rc {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        if time.time() - t0 > limit:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def temp_dirs(parent: Path, name: str) -> list[Path]:
    return sorted(parent.glob(f".{name}.tmp-*"))


# ------------------------------------------------------------------------------------------------ 1: data loss
@pytest.mark.slow
def test_a_folder_of_user_files_is_refused_and_force_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "x"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.txt").write_text("t\n")
    one_error_line(export_cli(*QUICK, "--output", str(out)), "is a folder of other files", "--force", "new path")
    assert sorted(p.name for p in out.iterdir()) == ["sub", "thesis.txt"]
    assert (out / "thesis.txt").read_text() == "t\n"
    assert hidden(tmp_path) == []

    proc = export_cli(*QUICK, "--output", str(out), "--force")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "manifest.json").read_text())["schema"] == SCHEMA
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("x.bak-")]
    assert len(kept) == 1 and (kept[0] / "thesis.txt").read_text() == "t\n" and (kept[0] / "sub").is_dir()
    assert str(kept[0].name) in proc.stderr  # the user is told where the folder went
    assert hidden(tmp_path) == []


@pytest.mark.slow
def test_a_previous_export_is_replaced_but_not_one_with_added_files(tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    assert export_cli(*QUICK, "--seed", "1", "--output", str(out)).returncode == 0
    proc = export_cli(*QUICK, "--seed", "2", "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "manifest.json").read_text())["source"]["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "artifacts.export.log"]  # no backup

    (out / "notes.txt").write_text("my notes\n")
    one_error_line(export_cli(*QUICK, "--output", str(out)), "previous export but also holds 'notes.txt'", "--force")
    assert (out / "notes.txt").read_text() == "my notes\n"


def test_output_that_is_the_current_folder_or_a_file(tmp_path: Path) -> None:
    """Refused at once (not after the whole export with "PosixPath('.') has an empty name")."""
    (tmp_path / "keep.txt").write_text("k")
    sub = tmp_path / "sub"
    sub.mkdir()
    one_error_line(export_cli(*QUICK, "--output", ".", cwd=tmp_path), "--output . is the current folder")
    one_error_line(export_cli(*QUICK, "--output", "..", cwd=sub), "is the current folder or one of its parents")
    one_error_line(export_cli(*QUICK, "--output", str(tmp_path / "keep.txt")), "is not a folder", "--force")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "sub"]


# ------------------------------------------------------------------------------------------------ 2: concurrency
@pytest.mark.slow
def test_a_second_concurrent_export_fails_in_one_line(tmp_path: Path) -> None:
    """Two real processes: the first holds the output's lock (stopped with SIGSTOP while it does, so the
    overlap is certain); the second fails at once; the first then finishes and its export is the one there."""
    out = tmp_path / "artifacts"
    first = subprocess.Popen(cli_cmd(*QUICK, "--seed", "1", "--output", str(out)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for(lambda: (tmp_path / ".artifacts.lock").exists() and temp_dirs(tmp_path, "artifacts"), "the lock",
                 first)  # fmt: skip
        first.send_signal(signal.SIGSTOP)
        second = export_cli(*QUICK, "--seed", "2", "--output", str(out))
        one_error_line(second, f"another export is writing to {out} (process {first.pid})")
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=900)
    assert first.returncode == 0, err[-2000:]
    assert json.loads((out / "manifest.json").read_text())["source"]["seed"] == 1
    assert hidden(tmp_path) == []  # lock file and temp folder gone


# ------------------------------------------------------------------------------------------------ 4: leftovers
@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "rc", "said"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_sigterm_and_ctrl_c_leave_nothing(tmp_path: Path, sig: signal.Signals, rc: int, said: str) -> None:
    """Stopped half-way, an export leaves neither its temporary folder nor its library log (Ctrl-C left
    OUTPUT.export.log behind)."""
    out = tmp_path / "artifacts"
    # ONNX and a TFLite file: the ONNX export alone can end (and the interpreter be finalizing, when Python no
    # longer handles signals) before a loaded machine delivers the signal
    long = (*QUICK[:4], "onnx", "tflite", "--precision", "fp32", "--no-parity")
    proc = subprocess.Popen(cli_cmd(*long, "--output", str(out)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    wait_for(lambda: temp_dirs(tmp_path, "artifacts"), "the temporary folder", proc)
    assert f".artifacts.tmp-{proc.pid}-" in temp_dirs(tmp_path, "artifacts")[0].name  # its name carries the pid
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == rc, err[-2000:]
    assert err.rstrip().splitlines()[-1].startswith(f"error: {said}") and "Traceback" not in err
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [], left


@pytest.mark.slow
def test_kill_9_leftovers_are_removed_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    proc = subprocess.Popen(cli_cmd(*QUICK, "--output", str(out)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for(lambda: temp_dirs(tmp_path, "artifacts"), "the temporary folder", proc)
    proc.kill()
    proc.wait()
    stale = temp_dirs(tmp_path, "artifacts")
    assert len(stale) == 1
    live = tmp_path / f".artifacts.tmp-{os.getpid()}-live"  # a live process's folder is never touched
    live.mkdir()
    other = tmp_path / ".other.tmp-999999999-x"  # nor another output's
    other.mkdir()
    done = export_cli(*QUICK, "--output", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert not stale[0].exists() and live.is_dir() and other.is_dir()
    assert hidden(tmp_path) == sorted([live.name, other.name])


# --------------------------------------------------------------------------------- 6 + 7: listed files, modes
@pytest.mark.slow
def test_tflite_export_lists_every_file_and_honours_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "tfl"
    proc = export_cli("--random-init", "--arch", ARCH, "--format", "tflite", "--precision", "fp32", "--no-parity",
                      "--output", str(out), preexec_fn=lambda: os.umask(0o027))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads((out / "manifest.json").read_text())
    listed = {e["path"]: e for e in [*m["artifacts"], *m["files"]]}
    assert {"labels.txt", "preprocessing.json"} <= set(listed)
    on_disk = {p.name for p in out.iterdir()} - {"manifest.json"}
    assert on_disk == set(listed)  # no intermediate ONNX file, nothing unlisted
    assert not [n for n in on_disk if n.endswith(".onnx")]
    for name, e in listed.items():
        assert sha256_path(out / name) == e["sha256"], name
    assert (out.stat().st_mode & 0o777) == 0o750  # mkdtemp's 0700, widened to what the umask allows
    for p in out.rglob("*"):
        assert (p.stat().st_mode & 0o777) == (0o750 if p.is_dir() else 0o640), p


# ------------------------------------------------------------------------------------------------ 9: full disk
@pytest.mark.slow
def test_full_disk_names_the_path_and_leaves_nothing(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        out = small / "artifacts"
        one_error_line(export_cli(*QUICK, "--output", str(out)), f"no space left on the file system holding {small}")
        assert [p.name for p in small.iterdir()] in ([], ["artifacts.export.log"])  # at most the library log
    finally:
        subprocess.run(["umount", str(small)], check=True)
