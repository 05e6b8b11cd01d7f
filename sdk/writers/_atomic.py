"""Atomic file writes: a temp file in the destination folder, fsynced, then ``os.replace``, then the folder
fsynced.

A reader (or a re-run after a kill or a power loss) sees either no file or the complete file, never a partial
or empty one. Temp files are named ``.<name>.<run id>-<n>.medsynth-tmp``: the run id is the one set by
:func:`write_options` (a run of :func:`medsynth.writers.run.write_run`), else the process id and a random
token. A run holds its folder's lock (:mod:`medsynth.writers._lock`) while it writes, so every temp file it
finds there belongs to a run that has ended, and :func:`remove_stale_temps` may delete it.

:func:`atomic_open` publishes one file (fsync the file, rename, fsync the folder: two fsyncs per file).
:func:`atomic_batch` publishes many files at once with the same guarantee per file (group commit): it writes
every file to its temp name, then fsyncs them all, several at a time (the file system commits concurrent
fsyncs together), then renames each into place, then fsyncs each folder once. A name therefore still only
ever points to fsynced content, while the folder fsync is paid once per batch instead of once per file; a
caller records the batch as done (a run's journal) only after the commit returns.

On Linux 5.8 and later (where ``syncfs`` reports write-back errors) a batch makes its files durable with one
``syncfs`` of their file system instead of one ``fsync`` each: on this project's ext4 disk an fsync costs
about 2.5 ms even for a clean file, and 3,000 PNGs took 0.43 s more than an NPZ of them with one ``syncfs``
per batch of 64, 3.64 s more with an fsync per file, 8 in flight (``benchmarks/png_bench.py``). ``syncfs``
also flushes whatever else is dirty on that file system, the trade-off PostgreSQL documents for its
``recovery_init_sync_method=syncfs``; elsewhere, on older kernels, and once a sandbox has refused ``syncfs``
(ENOSYS, EPERM), every file is fsynced.

``fsync`` costs time on every file (a few ms each on spinning disks and network file systems);
``write_options(fsync=False)`` (``medsynth generate --no-fsync``) skips it, giving up only the power-loss
guarantee: a kill still leaves no partial file, and resume still verifies every file against the manifest.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

__all__ = [
    "TEMP_SUFFIX",
    "AtomicBatch",
    "atomic_batch",
    "atomic_open",
    "atomic_write_bytes",
    "remove_stale_temps",
    "write_options",
    "fsync_folder",
]

TEMP_SUFFIX = ".medsynth-tmp"
_counter = itertools.count()
_FSYNC_THREADS = 8  # fsyncs of one batch in flight at once (threads waiting on the disk, not using a CPU)
_MAX_OPEN = 256  # staged files a batch holds open; beyond that the open ones are fsynced and closed early
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


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


def _load_syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs(fd)`` where it reports write-back errors (Linux >= 5.8), else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    release = re.match(r"(\d+)\.(\d+)", os.uname().release)
    if release is None or (int(release[1]), int(release[2])) < (5, 8):
        return None
    try:
        call = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):  # pragma: no cover - every glibc and musl since 2011 has it
        return None
    call.argtypes, call.restype = [ctypes.c_int], ctypes.c_int
    return call


_UNLOADED = object()
# The syncfs batches use: loaded on the first batch, None where there is none or once the system refused it
_syncfs_call: Any = _UNLOADED
# errno values of a syncfs that the system refuses (a seccomp filter, an emulation without it), rather than
# one that failed to write: the batch then falls back to an fsync per file, and so do the later batches
_SYNCFS_REFUSED = frozenset({errno.ENOSYS, errno.EPERM, errno.EACCES, errno.EOPNOTSUPP, errno.EINVAL})


def _syncfs() -> Callable[[int], int] | None:
    """The ``syncfs`` to use, or ``None``: then every file of a batch is fsynced."""
    global _syncfs_call
    if _syncfs_call is _UNLOADED:
        _syncfs_call = _load_syncfs()
    return cast("Callable[[int], int] | None", _syncfs_call)


def _sync_file_systems(folders: list[Path]) -> bool:
    """``syncfs`` once for each file system that holds one of ``folders``; False if the system refuses
    ``syncfs`` (then nothing is durable yet, the caller fsyncs each file, and later batches do too).

    Raises
    ------
    OSError
        ``syncfs`` failed, for example a write-back error on that file system.
    """
    global _syncfs_call
    call = _syncfs()
    assert call is not None
    seen: set[int] = set()
    for folder in folders:
        device = os.stat(folder).st_dev
        if device in seen:
            continue
        seen.add(device)
        fd = os.open(folder, os.O_RDONLY)
        try:
            if call(fd) != 0:
                code = ctypes.get_errno()
                if code in _SYNCFS_REFUSED:
                    _syncfs_call = None
                    return False
                raise OSError(code, os.strerror(code), os.fspath(folder))
        finally:
            os.close(fd)
    return True


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
    fd = os.open(temp, _CREATE, 0o666)
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


class AtomicBatch:
    """Files staged under temp names and published together by :meth:`commit`; made by
    :func:`atomic_batch`.

    Each file keeps :func:`atomic_open`'s guarantee (its final name appears only once its content is
    durable), but the folder is fsynced once per commit, and the files are made durable together: one
    ``syncfs`` of their file system where it reports errors (Linux >= 5.8), else their fsyncs issued together.
    """

    def __init__(self) -> None:
        self._options = _options()
        self._syncfs = self._options.fsync and _syncfs() is not None  # one syncfs instead of the fsyncs
        self._staged: list[tuple[Path, Path]] = []  # (temp, final), in the order written
        self._open: list[int] = []  # descriptors of staged files not yet fsynced (per-file fsync only)

    def write_bytes(self, path: Path, data: bytes) -> None:
        """Write ``data`` to a temp file next to ``path``; it replaces ``path`` at :meth:`commit`.

        Raises
        ------
        OSError
            The folder is not writable, or the disk is full.
        """
        temp = _temp_path(path, self._options.tag)
        fd = os.open(temp, _CREATE, 0o666)  # 0o666: the usual umask permissions, as atomic_open
        self._staged.append((temp, path))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            raise
        if not self._options.fsync or self._syncfs:  # syncfs needs no descriptor of the file
            os.close(fd)
            return
        self._open.append(fd)  # fsynced through the descriptor that wrote it, so no write error is missed
        if len(self._open) >= _MAX_OPEN:
            self._sync_open()

    def _sync_open(self) -> None:
        """fsync and close the staged files still open, up to ``_FSYNC_THREADS`` at once."""
        fds, self._open = self._open, []
        try:
            if len(fds) == 1:
                os.fsync(fds[0])
            elif fds:
                with ThreadPoolExecutor(max_workers=min(_FSYNC_THREADS, len(fds))) as pool:
                    for _ in pool.map(os.fsync, fds):
                        pass
        finally:
            for fd in fds:
                os.close(fd)

    def commit(self) -> None:
        """Publish the staged files: make them durable (one ``syncfs``, or an fsync each), rename each into
        place, fsync each folder once.

        Without fsync (:func:`write_options`), only the renames. With fsync, every file is durable under its
        final name once this returns.

        Raises
        ------
        OSError
            An fsync or a rename failed; files renamed before it hold their complete new content, the
            others are untouched (call :meth:`discard` to remove the temp files).
        """
        if self._syncfs and self._staged:
            if not _sync_file_systems(list(dict.fromkeys(temp.parent for temp, _ in self._staged))):
                for temp, _ in self._staged:  # refused: fsync each file, reopened by its temp name
                    self._open.append(os.open(temp, os.O_RDONLY))
                self._sync_open()
        elif self._options.fsync:
            self._sync_open()
        folders: dict[Path, None] = {}
        for temp, path in self._staged:
            os.replace(temp, path)
            folders[path.parent] = None
        self._staged = []
        if self._options.fsync:
            for folder in folders:
                fsync_folder(folder)

    def discard(self) -> None:
        """Remove the staged temp files that are not yet published (after a failure)."""
        for fd in self._open:
            try:
                os.close(fd)
            except OSError:  # pragma: no cover - a descriptor we opened is always closable
                pass
        self._open = []
        for temp, _ in self._staged:
            temp.unlink(missing_ok=True)
        self._staged = []


@contextmanager
def atomic_batch() -> Iterator[AtomicBatch]:
    """Stage files in the block and publish them together when it ends (group commit).

    Yields
    ------
    AtomicBatch
        Write each file with :meth:`AtomicBatch.write_bytes`. When the block ends, :meth:`AtomicBatch.commit`
        fsyncs every file, renames each into place and fsyncs each folder once (unless
        :func:`write_options` turned fsync off). If the block or the commit raises, the temp files not yet
        published are removed.

    Raises
    ------
    OSError
        A write, fsync or rename failed.
    """
    batch = AtomicBatch()
    try:
        yield batch
        batch.commit()
    except BaseException:
        batch.discard()
        raise


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
