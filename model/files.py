"""Files this project writes and checks: one hasher, one atomic writer, one JSON policy.

Every result, manifest, checkpoint and cache file goes through ``atomic_output`` (a temporary file in the same
folder, renamed over the target only when complete), so a crash or a full disk never leaves a half-written
file under the final name. Files get the permissions every other tool gives them (``0o666 & ~umask``), not
the private ``0o600`` of ``tempfile``. JSON is strict: a non-finite float (an infinite PSNR of identical
outputs, say) is written as ``null``, never as the ``Infinity`` token other JSON readers reject.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def sha256_path(path: str | Path) -> str:
    """sha256 of a file, or of a folder (an .mlpackage) over its sorted relative paths and bytes."""
    path = Path(path)
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def size_bytes(path: str | Path) -> int:
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    return 0o777 & ~current_umask()


@contextmanager
def atomic_output(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``, on any error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_output(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_output(path, "w") as f:
        f.write(text)


def json_safe(obj: Any) -> Any:
    """``obj`` with non-finite floats as None and paths as strings: what strict JSON can hold."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def to_json(data: Any, indent: int = 2) -> str:
    return json.dumps(json_safe(data), indent=indent, allow_nan=False) + "\n"


def write_json_atomic(path: str | Path, data: Any, indent: int = 2) -> None:
    write_text_atomic(path, to_json(data, indent))


def missing_folders(folder: str | Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first (what a ``mkdir -p`` would make)."""
    out = []
    for p in [Path(folder).absolute(), *Path(folder).absolute().parents]:
        if p.exists():
            break
        out.append(p)
    return out


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove, deepest first, those of ``folders`` (from ``missing_folders``) that exist and are empty: what a
    refused command made for its output and never filled; anything put there meanwhile stays."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # gone already, or not empty: then its parents are not empty either
            if folder.exists():
                return


def backup_name(path: Path) -> Path:
    """A free name beside ``path`` to keep an old file or folder under: ``NAME.bak-YYYYmmdd-HHMMSS[-N]``
    (``--force`` renames what it would replace to this name; nothing is deleted)."""
    from datetime import datetime

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{n}")
    return candidate
