"""Atomic file writes: a temp file in the destination folder, fsynced, then ``os.replace``, then the folder
fsynced.

A reader (or a re-run after a kill or a power loss) sees either no file or the complete file, never a partial
or empty one. Temp files are named ``.<name>.<run id>-<n>.medsynth-tmp``: the run id is the one set by
:func:`write_options` (a run of :func:`medsynth.writers.run.write_run`), else the process id and a random
token. A run holds its folder's lock (:mod:`medsynth.writers._lock`) while it writes, so every temp file it
finds there belongs to a run that has ended, and :func:`remove_stale_temps` may delete it.

``fsync`` costs time on every file (a few ms each on spinning disks and network file systems);
``write_options(fsync=False)`` (``medsynth generate --no-fsync``) skips it, giving up only the power-loss
guarantee: a kill still leaves no partial file, and resume still verifies every file against the manifest.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "TEMP_SUFFIX",
    "atomic_open",
    "atomic_write_bytes",
    "remove_stale_temps",
    "write_options",
    "fsync_folder",
]

TEMP_SUFFIX = ".medsynth-tmp"
_counter = itertools.count()


@dataclass(frozen=True)
class _Options:
    tag: str  # the run id in temp names
    fsync: bool  # fsync files and folders before and after publishing


_OPTIONS: ContextVar[_Options | None] = ContextVar("medsynth_write_options", default=None)


def _options() -> _Options:
    options = _OPTIONS.get()
    if options is not None:
        return options
    return _Options(tag=f"{os.getpid()}-{secrets.token_hex(4)}", fsync=True)


@contextmanager
def write_options(*, run_id: str, fsync: bool = True) -> Iterator[None]:
    """Within the block (and in threads started with a copy of its context), name temp files after
    ``run_id`` and fsync (or not).

    Parameters
    ----------
    run_id
        A short token (letters, digits, ``-``) that identifies the run.
    fsync
        ``False`` skips fsync of files and folders: faster, not durable across a power loss.
    """
    token = _OPTIONS.set(_Options(tag=run_id, fsync=fsync))
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def _temp_path(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{next(_counter)}{TEMP_SUFFIX}")


def fsync_folder(folder: Path) -> None:
    """fsync a folder, so that the names created or replaced in it survive a power loss (POSIX only)."""
    if os.name != "posix":  # pragma: no cover - Windows has no directory handles to fsync
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        Otherwise the file is fsynced, renamed to ``path`` and the folder fsynced (unless
        :func:`write_options` turned fsync off).

    Raises
    ------
    OSError
        The folder is not writable (callers turn this into :class:`medsynth.errors.OutputError`).
    """
    options = _options()
    temp = _temp_path(path, options.tag)
    # os.open with mode 0o666 so the final file gets the usual umask permissions (mkstemp would give 0600).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            if options.fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if options.fsync:
        fsync_folder(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as handle:
        handle.write(data)


def remove_stale_temps(folder: Path) -> int:
    """Delete the temp files a killed run left in ``folder``; return how many were removed.

    Call it only while holding the folder's run lock. A folder that is a symbolic link is left alone (its
    target is not the run's), and so is anything in it that is not a regular file.
    """
    removed = 0
    if folder.is_dir() and not folder.is_symlink():
        for temp in folder.glob(f".*{TEMP_SUFFIX}"):
            if temp.is_symlink() or not temp.is_file():
                continue
            temp.unlink(missing_ok=True)
            removed += 1
    return removed
