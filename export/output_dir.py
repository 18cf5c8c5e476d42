"""The export's output folder: what may be replaced, a lock against concurrent exports, the temporary folder
(named after its process, so a later run can remove it once that process is dead) and file modes that honour
the umask.

What ``--output DIR`` does:

- DIR does not exist, or is an empty folder: the export is written there.
- DIR is a previous export of this tool (its ``manifest.json`` has this tool's schema and the folder holds
  nothing the manifest does not account for): it is replaced, in one rename, only after the new export
  succeeded.
- Anything else (a file, a folder of other files, a previous export with files added by hand, the current
  folder or one of its parents): refused with one line before any work. ``--force`` does not delete it
  either: the existing folder is renamed to ``DIR.bak-YYYYmmdd-HHMMSS`` beside it (named on stderr), then the
  export is written to DIR. Nothing the user owns is ever deleted.

Only the standard library is imported here: these checks run before torch or TensorFlow are loaded.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shufflenet.export.manifest import SCHEMA
from shufflenet.model.cli_common import probe_writable
from shufflenet.model.files import backup_name, dir_mode, file_mode

log = logging.getLogger(__name__)

# What exports before the manifest listed every file left beside their files (tflite-only exports).
_LEGACY_INTERMEDIATES = re.compile(r".+_fp32(\.sim)?\.onnx")


class OutputError(ValueError):
    """The output folder cannot be used as asked; one line naming the fix."""


# --------------------------------------------------------------------------------------------- file modes
def honour_umask(path: Path) -> None:
    """Give a folder made by ``mkdtemp`` (always 0700) and everything in it the modes ordinary tools give."""
    path = Path(path)
    os.chmod(path, dir_mode())
    for p in path.rglob("*"):
        if p.is_symlink():
            continue
        if p.is_dir():
            os.chmod(p, dir_mode())
        elif p.stat().st_mode & 0o777 == 0o600:  # a private temporary file (mkstemp); others kept theirs
            os.chmod(p, file_mode())


# --------------------------------------------------------------------------------------------- replace rules
def _within(a: Path, b: Path) -> bool:
    """Whether ``a`` is ``b`` or inside it."""
    try:
        a.relative_to(b)
        return True
    except ValueError:
        return False


def previous_export_extras(folder: Path) -> list[str] | None:
    """None when ``folder`` is not an export of this tool; else the names in it its manifest does not account
    for (empty: it is a clean previous export that may be replaced)."""
    try:
        m = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("schema") != SCHEMA or not isinstance(m.get("artifacts"), list):
        return None
    known = {"manifest.json"}
    for key in ("labels_file", "preprocessing_file"):
        if isinstance(m.get(key), str):
            known.add(m[key])
    for e in [*m["artifacts"], *(m.get("files") or [])]:
        if isinstance(e, dict) and isinstance(e.get("path"), str):
            known.add(Path(e["path"]).parts[0] if Path(e["path"]).parts else e["path"])
    extras = []
    for p in sorted(folder.iterdir()):
        if p.name in known:
            continue
        if p.is_file() and not p.is_symlink() and _LEGACY_INTERMEDIATES.fullmatch(p.name):
            continue  # written (unlisted) by earlier versions of this tool
        extras.append(p.name)
    return extras


@dataclass(frozen=True)
class OutputPlan:
    """What happens to ``--output`` at the end: nothing there, a replaceable folder, or (``--force``) a folder
    renamed aside and kept."""

    output: Path
    exists: bool
    keep_old: bool


def check_output(output: Path, force: bool = False) -> OutputPlan:
    """Fail before any work when ``output`` may not be written; say what will become of what is there."""
    output = Path(output)
    resolved = output.resolve()
    if not output.name or output.name in (".", "..") or _within(Path.cwd().resolve(), resolved):
        raise OutputError(
            f"--output {output} is the current folder or one of its parents, which an export would replace; "
            "pass a new folder name such as --output artifacts"
        )
    if resolved.parent == resolved:
        raise OutputError(f"--output {output} is the file system's root; pass a new folder name")
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        if force:
            return OutputPlan(output, True, True)
        raise OutputError(
            f"--output {output} exists and is not a folder; choose a new path or pass --force (it is renamed "
            "aside, not deleted)"
        )
    _probe_writable(output)
    if not output.exists():
        return OutputPlan(output, False, False)
    try:
        empty = not any(output.iterdir())
    except OSError as e:
        raise OutputError(f"--output {output} cannot be read ({e.strerror}); choose another --output") from None
    extras = [] if empty else previous_export_extras(output)
    if extras == []:
        return OutputPlan(output, True, False)
    if force:
        return OutputPlan(output, True, True)
    if extras is None:
        raise OutputError(
            f"--output {output} is a folder of other files, not a previous export; choose a new path, or pass "
            "--force to rename it aside (nothing is deleted)"
        )
    more = f" and {len(extras) - 1} more" if len(extras) > 1 else ""
    raise OutputError(
        f"--output {output} is a previous export but also holds {extras[0]!r}{more}, which its manifest does not "
        "list; move that out, choose a new path, or pass --force to rename the folder aside (nothing is deleted)"
    )


def _probe_writable(output: Path) -> None:
    """A real probe of the folder the output goes into (``cli_common.probe_writable``, the one output check)."""
    try:
        probe_writable("--output", output)
    except ValueError as e:
        raise OutputError(str(e)) from None


def move_into_place(tmp: Path, output: Path, keep_old: bool = False) -> Path | None:
    """Rename the finished ``tmp`` folder to ``output``. An existing ``output`` (already judged replaceable by
    ``check_output``) is renamed aside first; it is removed afterwards unless ``keep_old`` (``--force`` on a
    folder that is not a clean previous export), in which case its new name is returned."""
    old = None
    if output.exists() or output.is_symlink():
        old = backup_name(output) if keep_old else output.with_name(f".{output.name}.old-{os.getpid()}")
        os.replace(output, old)
    try:
        os.replace(tmp, output)
    except BaseException:
        if old is not None:
            os.replace(old, output)  # put the user's folder back
        raise
    if old is not None and not keep_old:
        shutil.rmtree(old, ignore_errors=True)
        return None
    return old


# --------------------------------------------------------------------------------------------- lock
def lock_path(output: Path) -> Path:
    output = Path(output).absolute()
    return output.with_name(f".{output.name}.lock")


@contextmanager
def output_lock(output: Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``output`` (a ``.NAME.lock`` file beside it); a second export of the same
    output fails at once with one line instead of silently replacing the first one's result."""
    path = lock_path(output)
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
        except OSError as e:
            raise OutputError(
                f"output folder {output} is not writable ({e.strerror}); choose another --output"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            who = f" (process {holder})" if holder.isdigit() else ""
            raise OutputError(
                f"another export is writing to {output}{who}; wait for it to finish or choose another --output"
            ) from None
        # The holder before us may have removed the file after we opened it: lock the file that is there now.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


# --------------------------------------------------------------------------------------------- temp folders
def make_temp_dir(output: Path) -> Path:
    """The hidden folder beside ``output`` the export is written into; its name carries this process's id."""
    output = Path(output).absolute()
    return Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-{os.getpid()}-", dir=output.parent))


_LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?:tmp|old|probe)-(?P<pid>\d+)(?:-.*)?")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temps(output: Path) -> list[Path]:
    """Remove the temporary folders an export of ``output`` left behind when its process was killed (only
    those whose process id is dead; run under the output lock)."""
    output = Path(output).absolute()
    removed = []
    try:
        siblings = list(output.parent.iterdir())
    except OSError:
        return removed
    for p in siblings:
        m = _LEFTOVER.fullmatch(p.name)
        if not m or m["name"] != output.name or not p.is_dir() or p.is_symlink():
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        if ".old-" in p.name and not output.exists():
            os.replace(p, output)  # killed between the two renames: the previous export goes back in place
            log.info("restored %s from %s (an export was killed while replacing it)", output, p)
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
        log.info("removed %s, left behind by an export (process %d) that was killed", p, pid)
    return removed
