"""Shared CLI plumbing: one-line errors instead of tracebacks or usage dumps, SIGTERM handled like Ctrl-C, and
library logs (TensorFlow's C++ start-up lines, coremltools' and torch's warnings) sent to a log file, so that
stderr carries this tool's own progress and, on failure, one line.

The promise every ``shufflenet-*`` command keeps: a bad argument or a bad file ends in one line on stderr
(``error: ...``, or ``PROG: error: ... (see --help)`` for a malformed command line), exit code 2, nothing
half-written. Ctrl-C exits 130 and SIGTERM 143, both after removing what the command had half-written.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

log = logging.getLogger(__name__)

LOG_ENV = "SHUFFLENET_LOG_FILE"


class CliParser(argparse.ArgumentParser):
    """``argparse`` with a one-line error (``PROG: error: MESSAGE (see --help)``, exit 2) instead of the usage
    block; ``--help`` still prints the full usage. Sub-command parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def require_path(flag: str, path: Path | None, kind: str, fix: str) -> None:
    """Check a command-line path before heavy libraries load: ``kind`` is "file" or "folder"; ``fix`` ends the
    one-line message (e.g. "pass a folder laid out as <root>/<class>/*.jpg")."""
    if path is None:
        return
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{flag} {path} does not exist; {fix}")
    if kind == "file" and path.is_dir():
        raise ValueError(f"{flag} {path} is a folder, not a file; {fix}")
    if kind == "folder" and not path.is_dir():
        raise ValueError(f"{flag} {path} is a file, not a folder; {fix}")


class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``timeout`` and ``kill`` send), raised in the main thread so it unwinds like Ctrl-C: every
    ``finally`` and ``except BaseException`` clean-up runs (temporary folders are removed)."""


def _on_sigterm(signum: int, _frame: object) -> None:
    raise Terminated()


def default_log_file(prog: str) -> Path:
    if os.environ.get(LOG_ENV):
        return Path(os.environ[LOG_ENV])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "shufflenet-mobile" / "logs" / f"{prog}.log"


class _OwnRecords(logging.Filter):
    """Only this project's log records reach stderr; libraries' records go to the log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == "root" or record.name.startswith(("shufflenet", "__main__"))


@contextmanager
def library_output_to_file(path: Path | None) -> Iterator[None]:
    """Point file descriptor 2 (where C++ libraries such as TensorFlow write) at ``path`` for the duration,
    while Python's ``sys.stderr`` keeps writing to the real stderr."""
    if path is None:
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    except OSError:
        yield  # no log file possible: library output stays on stderr
        return
    sys.stderr.flush()
    saved = os.dup(2)
    own_stderr = sys.stderr
    replaced = False
    try:
        uses_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        uses_fd2 = False
    if uses_fd2:  # keep Python-level writes on the real stderr
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0), write_through=True)
        replaced = True
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        if replaced:
            sys.stderr.close()
            sys.stderr = own_stderr


class _CurrentStderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is at the time (it is swapped while fd 2 is redirected)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def run_cli(
    body: Callable[[], int],
    expected: tuple[type[BaseException], ...] = (ValueError, OSError),
    prog: str | None = None,
) -> int:
    """Run a CLI body; expected errors print one line on stderr and exit 2, Ctrl-C exits 130, SIGTERM 143."""
    prog = prog or Path(sys.argv[0]).name or "shufflenet"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported by the body
    log_file: Path | None = default_log_file(prog)
    root = logging.getLogger()
    console = _CurrentStderr()
    console.setFormatter(logging.Formatter("%(message)s"))
    console.addFilter(_OwnRecords())
    handlers: list[logging.Handler] = [console]
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.touch()
        to_file = logging.FileHandler(log_file, mode="a", delay=True)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handlers.append(to_file)
    except OSError:
        log_file = None
    for h in handlers:
        root.addHandler(h)
    old_level = root.level
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # library warnings (torch, coremltools) -> the "py.warnings" logger -> file
    in_main = threading_is_main()
    old_term = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        with library_output_to_file(log_file):
            try:
                return body()
            except Terminated:
                print("error: terminated (SIGTERM); nothing half-written was left behind", file=sys.stderr)
                return 143
            except KeyboardInterrupt:
                print("error: interrupted", file=sys.stderr)
                return 130
            except expected as e:
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                print(f"error: {msg}", file=sys.stderr)
                return 2
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, old_term)
        logging.captureWarnings(False)
        for h in handlers:
            root.removeHandler(h)
            h.close()
        root.setLevel(old_level)


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def text_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Plain-text table lines: the first row is the header, underlined; columns left-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines
