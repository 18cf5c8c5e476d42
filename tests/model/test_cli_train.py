"""shufflenet-train's command line as a user meets it: --resume asked for what it cannot do, a --val folder of
some of the classes, paths that cannot be written, Ctrl-C in the middle of a run, the help of its flags."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shufflenet.model import cli_train
from shufflenet.model.checkpoint import read_training_state
from shufflenet.model.files import sha256_path

ARCH = "shufflenet_v1_g3_0.25x_cifar"  # not the default variant: a resume must take it from the checkpoint


def _train(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, str]:
    """shufflenet-train ARGS in this process: exit status and what it wrote on stderr."""
    capsys.readouterr()
    rc = cli_train.main([*map(str, args)])
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def two_epochs(own_photos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of 2 epochs of the small variant (3 steps each) on the 3-class photo folder."""
    out = tmp_path_factory.mktemp("run") / "last.pt"
    cmd = [sys.executable, "-m", "shufflenet.model.cli_train", "--arch", ARCH, "--data", str(own_photos["train"]),
           "--out", str(out), "--epochs", "2", "--threads", "1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def test_resume_refuses_what_it_cannot_continue(
    two_epochs: Path, own_photos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = ("--data", own_photos["train"], "--threads", "1")
    rc, err = _train(capsys, *data, "--resume", "--out", tmp_path / "none" / "last.pt")
    assert rc == 2 and "there is no checkpoint at --out" in err and err.count("\n") == 1, err
    assert not (tmp_path / "none").exists()  # nothing was started from scratch
    out = tmp_path / "last.pt"
    shutil.copyfile(two_epochs, out)
    digest = sha256_path(out)
    rc, err = _train(capsys, *data, "--resume", "--force", "--out", out)
    assert rc == 2 and "pass one of them" in err, err
    rc, err = _train(capsys, *data, "--resume", "--epochs", "1", "--out", out)
    assert rc == 2 and "it has 2 epochs done already; pass --epochs above 2" in err, err
    rc, err = _train(capsys, *data, "--resume", "--epochs", "3", "--arch", "shufflenet_v1_g3_0.5x_cifar", "--out", out)
    assert rc == 2 and f"it is a run of {ARCH}, not --arch shufflenet_v1_g3_0.5x_cifar" in err, err
    assert sha256_path(out) == digest
    # Without --arch: the checkpoint's variant (not the default one) goes on to epoch 3
    rc, err = _train(capsys, *data, "--resume", "--epochs", "3", "--out", out)
    assert rc == 0, err
    saved = read_training_state(out)
    assert saved["arch"] == ARCH and saved["epoch"] == 3


def test_val_may_hold_some_of_the_training_classes(
    own_photos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A class with one photo cannot be both in --data and --val: the test folder may hold fewer classes."""
    val = tmp_path / "val"
    for cls in ("bird", "ship"):
        shutil.copytree(own_photos["test"] / cls, val / cls)
    out = tmp_path / "last.pt"
    rc, err = _train(capsys, "--arch", ARCH, "--data", own_photos["train"], "--val", val, "--out", out,
                     "--epochs", "1", "--max-steps", "1", "--threads", "1")  # fmt: skip
    assert rc == 0, err
    assert read_training_state(out)["classes"] == ["bird", "deer", "ship"]
    shutil.copytree(own_photos["test"] / "deer", val / "elk")  # a class training never sees
    rc, err = _train(capsys, "--arch", ARCH, "--data", own_photos["train"], "--val", val,
                     "--out", tmp_path / "other.pt", "--epochs", "1")  # fmt: skip
    assert rc == 2 and "has class folder(s) elk that --data does not have" in err, err


def test_unwritable_outputs_are_found_before_any_work(
    own_photos: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cache = tmp_path / "cache"
    for flag, path in (("--out", "/proc/x/last.pt"), ("--log-json", "/proc/x/log.json")):
        args = ["--arch", ARCH, "--data", own_photos["train"], "--cache", cache, "--out", tmp_path / "last.pt", flag,
                path]  # fmt: skip
        rc, err = _train(capsys, *args)
        assert rc == 2 and f"{flag} {path} is not writable" in err and err.count("\n") == 1, err
    assert not (tmp_path / "last.pt").exists() and not cache.exists()  # not an image was decoded


def test_ctrl_c_says_which_epoch_is_kept_and_how_to_resume(own_photos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "last.pt"
    cmd = [sys.executable, "-m", "shufflenet.model.cli_train", "--arch", ARCH, "--data", str(own_photos["train"]),
           "--out", str(out), "--epochs", "1000", "--threads", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert out.exists(), "no epoch ended"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    epoch = read_training_state(out)["epoch"]
    assert last == (
        f"error: interrupted; the checkpoint of epoch {epoch} of 1000 is kept at {out}; to continue, run the same "
        "command again with --resume"
    )


def test_on_off_flags_show_no_default_in_the_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli_train.main(["--help"])
    flat = " ".join(capsys.readouterr().out.split())
    assert "float32 on CUDA instead of bf16 autocast" in flat
    assert "bf16 autocast (default: True)" not in flat and "(default: False)" not in flat
    assert "(default: 30)" in flat  # values still show theirs
