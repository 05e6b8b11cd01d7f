"""One writer per run folder: an exclusive lock on ``<out>/.medsynth-run.lock`` held for a whole run.

The lock is ``fcntl.flock`` (POSIX) or ``msvcrt.locking`` (Windows) on the lock file, so the operating system
releases it when the holder exits, however it exits: a killed run never leaves a stale lock. The holder
writes who it is (process id, host, start time) into the file; a second run is refused with an error that
names it, or, with ``wait=True``, blocks until the first one ends.

The holder deletes the lock file before releasing it. A run that was waiting on the old file then finds
that the path no longer names the file it locked and starts over, so two runs never both hold a lock.

A lock taken with ``reentrant=True`` is lent to the code it wraps: within the same context (thread), a
``run_lock`` of that folder yields the held lock and does nothing else, so a driver that holds a folder for a
whole run (the Ray driver in :mod:`medsynth.ray_run`) can call :func:`~medsynth.writers.run.write_run`
inside it. Without it a second ``run_lock`` of a held folder is refused, in this process as in any other.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from medsynth.errors import OutputError

__all__ = ["LOCK_FILE", "RunLock", "run_lock"]

LOCK_FILE = ".medsynth-run.lock"
_POLL_S = 0.05


@dataclass(frozen=True)
class RunLock:
    """A held run lock."""

    out: Path  # the locked folder
    run_id: str  # a fresh token naming this run (in temp file names)
    created: Path | None  # the topmost folder the lock had to create (removed again if left empty)


def _try_lock(fd: int, wait: bool) -> bool:
    if sys.platform == "win32":  # pragma: no cover - not tested on this platform
        import msvcrt

        os.lseek(fd, 1 << 20, os.SEEK_SET)  # lock a byte past the holder text so that it stays readable
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if not wait:
                    return False
                time.sleep(_POLL_S)
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8")[:4096])
        host, started = str(info["host"])[:64], str(info["started"])[:32]
        return f"process {int(info['pid'])} on {host}, started {started}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _make_folder(out: Path) -> Path | None:
    """Create ``out`` and its missing parents; return the topmost folder created (None if it existed)."""
    missing = []
    folder = out
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    out.mkdir(parents=True, exist_ok=True)
    return missing[-1] if missing else None


def _remove_empty(out: Path, top: Path) -> None:
    folder = out
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == top or folder == folder.parent:
            return
        folder = folder.parent


# (absolute folder, lock) of the reentrant run locks this context holds: run_lock there yields them
_HELD: ContextVar[tuple[tuple[str, RunLock], ...]] = ContextVar("medsynth_held_run_locks", default=())


@contextmanager
def run_lock(out: Path, *, wait: bool = False, reentrant: bool = False) -> Iterator[RunLock]:
    """Hold the exclusive lock of run folder ``out`` (created if missing) for the ``with`` block.

    Parameters
    ----------
    out
        The run folder.
    wait
        Wait for another holder to finish instead of refusing.
    reentrant
        Within the block, a ``run_lock`` of ``out`` in the same context yields this lock instead of being
        refused.

    Yields
    ------
    RunLock
        The held lock. On exit the lock file is removed and the lock released; folders this call created
        are removed again if the run left them empty. If this context holds the lock of ``out`` already,
        taken with ``reentrant=True``: that lock, and nothing is done on entry or exit.

    Raises
    ------
    OutputError
        Another run holds the folder (and ``wait`` is false), or the folder or lock file cannot be made.
    """
    key = os.path.abspath(out)
    for folder, held in _HELD.get():
        if folder == key:
            yield held
            return
    path = out / LOCK_FILE
    try:
        created = _make_folder(out)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror or exc}") from exc
    fd = -1
    try:
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
            except OSError as exc:
                raise OutputError(f"cannot create the lock file {path}: {exc.strerror or exc}") from exc
            if not _try_lock(fd, wait):
                holder = _holder(path)
                os.close(fd)
                fd = -1
                raise OutputError(
                    f"output folder {out} is in use by another medsynth run ({holder}); wait "
                    "for it to finish (--wait) or choose another --out"
                )
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder we waited for removed this file: lock the new one
            fd = -1
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode("utf-8"))
        lock = RunLock(out=out, run_id=f"{os.getpid()}-{secrets.token_hex(4)}", created=created)
        token = _HELD.set((*_HELD.get(), (key, lock)) if reentrant else _HELD.get())
        try:
            yield lock
        finally:
            _HELD.reset(token)
    finally:
        if fd >= 0:
            if sys.platform != "win32":  # an open file cannot be deleted on Windows; it stays, empty
                path.unlink(missing_ok=True)
            else:  # pragma: no cover
                os.ftruncate(fd, 0)
            os.close(fd)
        if created is not None:
            _remove_empty(out, created)
