"""What keeps a training run from losing work or silently going wrong: an existing ``--out`` is never overwritten
unless asked, a resume must continue the very same run, and a diverging run stops keeping its last good
checkpoint. Each check fails in one line naming the problem and the fix. Importable without torch."""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from .files import backup_name
from .train_config import TrainConfig

# Settings that change how fast or where a run computes, or when it stops, but not what it computes: a resume
# may change them (more --epochs continue a finished run further). Every other TrainConfig field is the recipe
# and must match the checkpoint's.
RUNTIME_FIELDS = frozenset({"epochs", "max_steps", "threads", "workers", "device", "amp", "channels_last",
                            "init_from", "compile", "compile_backend", "eval_every", "time_budget",
                            "total_steps", "sync_bn", "loader_workers", "dist_timeout"})  # fmt: skip


class OutputExists(ValueError):
    """``--out`` holds a checkpoint and neither ``--resume`` nor ``--force`` was given."""


class ResumeMismatch(ValueError):
    """A resume whose variant, classes or recipe differ from the checkpoint's."""


class TrainingDiverged(RuntimeError):
    """The training loss turned non-finite or exploded; the last good checkpoint is kept."""


def prepare_out(out: Path, resume: bool, force: bool) -> Path | None:
    """Check ``out`` before anything is trained. An existing file is continued (``resume``), renamed aside to
    ``OUT.bak-DATE`` (``force``; the new name is returned) or refused in one line: nothing is overwritten."""
    out = Path(out)
    if out.is_dir():
        raise OutputExists(f"--out {out} is a folder; pass a checkpoint file path such as {out}/last.pt")
    if not out.exists() or resume:
        return None
    if not force:
        raise OutputExists(
            f"--out {out} already exists (a previous run's checkpoint); pass --resume to continue it, --force to "
            "keep it as a .bak file and start afresh, or another --out"
        )
    kept = backup_name(out)
    out.rename(kept)
    return kept


def check_resume_request(out: Path, resume: bool, force: bool) -> None:
    """``--resume`` and ``--force`` as asked, before anything loads: they exclude each other, and a resume needs a
    checkpoint at ``--out`` (else it would silently start from scratch)."""
    if resume and force:
        raise OutputExists(
            "--resume continues the run at --out, --force sets it aside to start afresh; pass one of them"
        )
    if resume and not Path(out).is_file():
        raise OutputExists(
            f"--resume: there is no checkpoint at --out {out} to continue; pass the --out of the run to resume, "
            "or leave out --resume to start a new run"
        )


def resumed_arch(saved: dict[str, Any], arch: str | None, epochs: int, out: Path) -> str:
    """The variant a resume trains: the checkpoint's (an ``--arch`` naming another is refused, naming both), with
    ``--epochs`` checked against the epochs already done."""
    from .registry import get_variant

    recorded = get_variant(saved["arch"]).name
    if arch and get_variant(arch).name != recorded:
        raise ResumeMismatch(
            f"cannot resume {out}: it is a run of {recorded}, not --arch {arch}; leave out --arch to continue it"
        )
    _check_epochs(saved, epochs, out)
    return recorded


def _check_epochs(saved: dict[str, Any], epochs: int, out: Path) -> None:
    done = int(saved.get("epoch", 0))
    if epochs < done:
        raise ResumeMismatch(
            f"cannot resume {out} with --epochs {epochs}: it has {done} epochs done already; pass --epochs above "
            f"{done} to train on"
        )


def interrupted_message(out: Path, resume_hint: str = "run the same command again with --resume") -> str:
    """What a stopped run (Ctrl-C, SIGTERM) says: which epoch the checkpoint at ``out`` keeps, and how to go on."""
    from .checkpoint import CheckpointError, read_training_state

    try:
        saved = read_training_state(out) if Path(out).is_file() else None
    except (CheckpointError, OSError):
        saved = None
    if saved is None:
        return "interrupted before the first epoch ended; no checkpoint was written"
    total = saved.get("schedule_epochs") or (saved.get("config") or {}).get("epochs")
    of = f" of {total}" if total else ""
    return f"interrupted; the checkpoint of epoch {saved.get('epoch')}{of} is kept at {out}; to continue, {resume_hint}"


def check_resume(saved: dict[str, Any], cfg: TrainConfig, classes: list[str], out: Path) -> None:
    """Refuse to resume ``out`` (its payload ``saved``) with another variant, other classes (their order gives
    the label indices) or another recipe, naming every difference."""
    diffs = []
    if saved.get("arch") != cfg.arch:
        diffs.append(f"variant {saved.get('arch')} (checkpoint) vs {cfg.arch}")
    old_classes = saved.get("classes")
    if old_classes is not None and list(old_classes) != list(classes):
        diffs.append(f"classes {_short(old_classes)} (checkpoint) vs {_short(classes)}")
    recorded = saved.get("config") or {}
    now = asdict(cfg)
    for f in fields(TrainConfig):
        if f.name in RUNTIME_FIELDS or f.name == "arch" or f.name not in recorded:
            continue  # a setting older checkpoints did not record cannot be compared
        if recorded[f.name] != now[f.name]:
            diffs.append(f"{f.name} {recorded[f.name]!r} (checkpoint) vs {now[f.name]!r}")
    if diffs:
        raise ResumeMismatch(
            f"cannot resume {out}: {'; '.join(diffs)}; resume with the checkpoint's settings and data, or start "
            "a new run with another --out (or --force)"
        )
    _check_epochs(saved, cfg.epochs, out)


def val_classes_of(train_classes: list[str], val: Any, val_dir: Path) -> Any:
    """``--val`` images (an ``ImageArray``) labelled with the training classes' indices: a subset of the classes
    is welcome (a class of one photo cannot be in both folders), a class training never saw is refused."""
    import numpy as np

    unknown = [c for c in val.classes if c not in train_classes]
    if unknown:
        raise ValueError(
            f"--val {val_dir} has class folder(s) {', '.join(unknown[:3])} that --data does not have; name the "
            "folders after the training classes or move them out"
        )
    index = np.asarray([train_classes.index(c) for c in val.classes], dtype=np.int64)
    val.labels = index[val.labels]
    val.classes = list(train_classes)
    return val


def _short(names: list[str] | tuple[str, ...]) -> str:
    names = list(names)
    return "[" + ", ".join(names[:6]) + (", ..." if len(names) > 6 else "") + f"] ({len(names)})"


class DivergenceGuard:
    """Watches the training loss: non-finite, or above ``factor`` times its start (at least ln(classes), the
    loss of a uniform guess), stops the run. The checkpoint of the last good epoch stays as it was."""

    def __init__(self, num_classes: int, out: Path, lr: float, factor: float = 4.0) -> None:
        self.floor = math.log(max(num_classes, 2))
        self.out = Path(out)
        self.lr = lr
        self.factor = factor
        self.start: float | None = None
        self.last_saved: int | None = None  # epoch of the last checkpoint written by this run

    def resumed(self, epoch: int) -> None:
        """A resumed run: its checkpoint is the last good one; the loss is held to ln(classes) from the start
        (the resumed run's first loss may already be off)."""
        self.last_saved = epoch
        self.start = self.floor

    def saved(self, epoch: int) -> None:
        self.last_saved = epoch

    def check(self, loss: float, where: str) -> None:
        """``loss``: a mean training loss so far (of some steps or of an epoch); ``where``: e.g. "epoch 3"."""
        if not math.isfinite(loss):
            self._stop(f"the training loss became {loss} at {where}")
        if self.start is None:
            self.start = loss
            return
        ceiling = self.factor * max(self.floor, self.start)
        if loss > ceiling:
            self._stop(f"the training loss exploded to {loss:.3g} at {where} (it started at {self.start:.3g})")

    def kept(self) -> str:
        """What a run stopped now leaves behind, for its one-line message."""
        if self.last_saved:
            return f"the checkpoint of epoch {self.last_saved} is kept at {self.out}"
        return "no checkpoint was written"

    def _stop(self, what: str) -> None:
        raise TrainingDiverged(f"{what}; stopped, {self.kept()}; lower the learning rate (--lr, was {self.lr:g})")
