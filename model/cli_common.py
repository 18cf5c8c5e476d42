"""Shared CLI plumbing: one-line errors instead of tracebacks or usage dumps, SIGTERM handled like Ctrl-C,
logging set-up.

The promise every ``shufflenet-*`` command keeps: a bad argument or a bad file ends in one line on stderr
(``error: ...``, or ``PROG: error: ... (see PROG --help)`` for a malformed command line), exit code 2, nothing
half-written. Ctrl-C exits 130 and SIGTERM 143, both after the clean-up of what was half-written. A reader that
stops early (``shufflenet-info | head``) ends the command quietly with 141, as a Unix tool killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO


class CliParser(argparse.ArgumentParser):
    """``argparse`` with a one-line error (``PROG: error: MESSAGE (see PROG --help)``, exit 2) instead of the
    usage block; ``--help`` still prints the full usage. Sub-command parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``timeout`` and ``kill`` send), raised in the main thread so it unwinds like Ctrl-C: every
    ``finally`` and ``except BaseException`` clean-up runs (an export's temporary folder is removed)."""


def _on_stop(signum: int, frame: Any) -> None:
    """Ctrl-C (KeyboardInterrupt) or SIGTERM (``Terminated``), raised where the main thread is. Inside a finalizer
    (a progress bar's ``__del__``) Python prints an exception with a traceback and drops it, so the stop would be
    lost (a training run went on): the signal is delivered again once the finalizer is over."""
    f = frame
    while f is not None:
        if f.f_code.co_name == "__del__":
            try:
                threading.Timer(0.2, os.kill, (os.getpid(), signum)).start()
            except RuntimeError:  # the interpreter is shutting down: the process is ending anyway
                pass
            return
        f = f.f_back
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


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


def probe_writable(flag: str, path: Path) -> None:
    """Whether ``path`` (a file or a folder) can be made or replaced: a real probe, a temporary file made and removed
    in the nearest existing folder on its way (root ignores permission bits, so asking is not enough). Nothing is
    left behind, no folder is made; one line naming ``flag`` otherwise. The one check of every output path."""
    import tempfile

    folder = Path(path).absolute().parent
    while not (folder.exists() or folder.is_symlink()) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{flag} {path} cannot be written: {folder} is a file, not a folder; pass another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{Path(path).name}.probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(
            f"{flag} {path} is not writable ({e.strerror or e}); pass a path in a folder you can write"
        ) from None


def check_output_file(flag: str, path: Path | None) -> None:
    """Check, before any long work, that a file (a result, a checkpoint, a log) can be written at ``path``:
    ``probe_writable``, and an existing file opened for appending."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; pass a file path")
    probe_writable(flag, path)
    if path.exists():
        try:
            with open(path, "ab"):
                pass
        except OSError as e:
            raise ValueError(
                f"{flag} {path} is not writable ({e.strerror or e}); pass a path in a folder you can write"
            ) from None


class KnownLibraryNoise(logging.Filter):
    """Drops, from the terminal, library lines that say nothing about this run. coremltools: its macOS-only runtime
    could not load ("Failed to load _MLModelProxy: ...", a fact of every Linux host), the pinned torch and TensorFlow
    are newer than those it was tested with (this project's tests run the pinned set), and its scikit-learn
    converter is off (unused here). torchao, which coremltools and ExecuTorch import: its CUDA-only kernels and
    Triton are absent on a CPU host. A log file still gets them all."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if not name.startswith(("coremltools", "torchao")):
            return True
        msg = record.getMessage()
        if name.startswith("torchao"):
            return not ((msg.startswith("Failed to load") and "torchao" in msg) or "Detected no triton" in msg)
        if "has not been tested with coremltools" in msg or msg.startswith("scikit-learn version"):
            return False
        return not (sys.platform != "darwin" and msg.startswith(("Failed to load _ML", "Failed to load '_ML")))


def _quiet_terminal_logging() -> None:
    for h in logging.getLogger().handlers:
        if getattr(h, "stream", None) is sys.stderr and not any(isinstance(f, KnownLibraryNoise) for f in h.filters):
            h.addFilter(KnownLibraryNoise())


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (poll reports an error on its write end)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no file descriptor behind sys.stdout (a test's capture)
        return False


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away (``| head``): point stdout at /dev/null, so that the interpreter's last
    flush at exit does not fail again, and end quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor behind sys.stdout (a test's capture): nothing to flush
        pass
    return EXIT_BROKEN_PIPE


def run_cli(body: Callable[[], int], expected: tuple[type[BaseException], ...] = (ValueError, OSError)) -> int:
    """Run a CLI body; expected errors print one line on stderr and exit 2, Ctrl-C exits 130, SIGTERM 143, a
    closed stdout (``| head``) 141 without a word."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    _quiet_terminal_logging()
    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _on_stop) if in_main else None
    old_int = signal.signal(signal.SIGINT, _on_stop) if in_main else None
    try:
        rc = body()
        sys.stdout.flush()  # here, not at exit: a reader gone away is seen while its error can still be quiet
        return rc
    except BrokenPipeError as e:
        if _stdout_gone():
            return _quiet_broken_pipe()
        if not isinstance(e, expected):
            raise
        print(f"error: {error_line(e)}", file=sys.stderr)
        return 2
    except Terminated:
        print("error: terminated (SIGTERM); nothing half-written was left behind", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except expected as e:
        print(f"error: {error_line(e)}", file=sys.stderr)
        return 2
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, old_term)
            signal.signal(signal.SIGINT, old_int)


def error_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (its type when it has none)."""
    for line in str(e).splitlines():
        if line.strip():
            return line.strip()
    return type(e).__name__


def parse_size(text: str) -> tuple[int, int]:
    """An input size written ``H`` (square) or ``HxW``, both positive: the one rule of every command."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) <= 0:
        raise ValueError(f"input size {text!r} is not H or HxW (e.g. 224 or 480x640)")
    return parts[0], parts[1]


def size_argument(text: str) -> tuple[int, int]:
    """``parse_size`` as an argparse ``type`` (argparse keeps the message of an ArgumentTypeError only)."""
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_ints(text: str) -> list[int]:
    """A comma list of positive integers (``--threads 1,2``), as an argparse ``type``."""
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return vals


def plural(n: int, word: str) -> str:
    """``1 image``, ``2 images``: a count and its noun."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def text_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Plain-text table lines: the first row is the header, underlined; columns left-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


class StepProgress:
    """Progress of numbered steps (messages ``"[i/N] what"``): one live bar with a running clock on a terminal,
    one line per step elsewhere (CI logs); any other message is printed as a line of its own."""

    _STEP = re.compile(r"^\[(\d+)/(\d+)\] (.*)$")

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._bar: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, msg: str) -> None:
        m = self._STEP.match(msg)
        if not m:
            self._write(msg)
            return
        i, n, text = int(m.group(1)), int(m.group(2)), m.group(3)
        if not self.tty:
            self._write(msg)
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=n, file=self.stream, leave=True, dynamic_ncols=True,
                             bar_format="{desc} |{bar}| {n_fmt}/{total_fmt} [{elapsed}]")  # fmt: skip
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        self._bar.n = i - 1
        self._bar.set_description_str(text[:60].ljust(60))

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            bar = self._bar
            if bar is not None:
                bar.refresh()

    def _write(self, msg: str) -> None:
        if self._bar is not None:
            self._bar.write(msg, file=self.stream)
        else:
            print(msg, file=self.stream, flush=True)

    def close(self) -> None:
        self._stop.set()
        if self._bar is not None:
            self._bar.n = self._bar.total
            self._bar.set_description_str("done".ljust(60))
            self._bar.close()
            self._bar = None


def log_file_beside(folder: Path, tool: str) -> Path:
    """Where a command working on ``folder`` sends its library logs: beside it, named after it and the tool
    (``artifacts/default`` -> ``artifacts/default.export.log``)."""
    out = Path(folder).resolve()
    return out.with_name(f"{out.name}.{tool}.log")


@contextmanager
def library_output(
    log_path: Path | None, verbose: bool = False, discard_on: tuple[type[BaseException], ...] = ()
) -> Iterator[TextIO]:
    """Send what libraries print (Python logging, and TensorFlow's and coremltools' output on file descriptor 2)
    to ``log_path``; yields the terminal stream for the CLI's own progress. With ``verbose`` (or no log path)
    everything stays on the terminal. When the body raises one of ``discard_on`` (a refused request, told in one
    line), the log is left as it was: removed if this run made it (with the folders made for it), cut back to
    its earlier length if it existed."""
    if verbose or log_path is None:
        logging.getLogger().setLevel(logging.INFO)
        yield sys.stderr
        return
    from .files import missing_folders

    made = missing_folders(log_path.parent)
    earlier = log_path.stat().st_size if log_path.is_file() else None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    root = logging.getLogger()
    old_handlers, old_level = root.handlers[:], root.level
    try:
        with open(log_path, "a", encoding="utf-8") as log_file:
            handler = logging.StreamHandler(log_file)
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
            root.handlers = [handler]
            root.setLevel(logging.INFO)
            os.dup2(log_file.fileno(), 2)
            try:
                yield terminal
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                terminal.close()
                root.handlers, root.level = old_handlers, old_level
    except discard_on:
        _restore_log(log_path, earlier, made)
        raise


@contextmanager
def library_output_beside(folder: Path, tool: str, verbose: bool = False) -> Iterator[TextIO]:
    """``library_output`` for a command that only reads ``folder`` (an export): the libraries' output goes to
    ``log_file_beside(folder, tool)``, named on stderr at the end; it stays on the terminal where that file cannot
    be written (a read-only copy of an export) or with ``verbose``. Yields the terminal stream for progress."""
    log = log_file_beside(folder, tool)
    writable = os.access(log.parent, os.W_OK) and (not log.exists() or os.access(log, os.W_OK))
    with library_output(log if writable else None, verbose, discard_on=(ValueError, OSError)) as terminal:
        yield terminal
    if writable and not verbose:
        print(f"library logs: {log}", file=sys.stderr)


def _restore_log(log_path: Path, earlier: int | None, made: list[Path]) -> None:
    from .files import remove_empty_folders

    try:
        if earlier is None:
            log_path.unlink(missing_ok=True)
        else:
            os.truncate(log_path, earlier)
    except OSError:
        pass
    remove_empty_folders(made)
