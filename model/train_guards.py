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
