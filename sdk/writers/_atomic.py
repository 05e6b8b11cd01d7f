"""Atomic file writes: a temp file in the destination folder, then ``os.replace``.

A reader (or a re-run after a kill) sees either no file or the complete file, never a partial one. Temp files
carry :data:`TEMP_SUFFIX` so that a re-run can remove the ones a killed run left behind.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["TEMP_SUFFIX", "atomic_open", "atomic_write_bytes", "remove_stale_temps"]

TEMP_SUFFIX = ".medsynth-tmp"
_counter = itertools.count()


def _temp_path(path: Path) -> Path:
    token = f"{os.getpid()}-{next(_counter)}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.name}.{token}{TEMP_SUFFIX}")


@contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """Open a temp file next to ``path`` for binary writing; on success it replaces ``path`` atomically.

    Parameters
    ----------
    path
        The final file. Its folder must exist.

    Yields
    ------
    BinaryIO
        The open temp file. If the ``with`` block raises, the temp file is removed and ``path`` is untouched.

    Raises
    ------
    OSError
        The folder is not writable (callers turn this into :class:`medsynth.errors.OutputError`).
    """
    temp = _temp_path(path)
    # os.open with mode 0o666 so the final file gets the usual umask permissions (mkstemp would give 0600).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as handle:
        handle.write(data)


def remove_stale_temps(folder: Path) -> int:
    """Delete the temp files a killed run left in ``folder``; return how many were removed."""
    removed = 0
    if folder.is_dir():
        for temp in folder.glob(f".*{TEMP_SUFFIX}"):
            temp.unlink(missing_ok=True)
            removed += 1
    return removed
