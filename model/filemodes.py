"""File modes that honour the umask, for files and folders made through private temporaries (``mkstemp`` and
``mkdtemp`` always create 0600 / 0700; ``open()`` and ``mkdir`` would give 0666 / 0777 less the umask)."""

from __future__ import annotations

import os


def current_umask() -> int:
    """The process's umask (read by setting and restoring it: POSIX has no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the umask."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``mkdir`` would give a new folder: 0o777 less the umask."""
    return 0o777 & ~current_umask()
