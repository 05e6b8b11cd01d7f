"""The preprocessed-array cache: a data set is decoded and resized once, then read back as one ``.npz``.

An entry is keyed by the sha256 of everything that determines its content (the caller's description: the
resize policy, sizes, windows, ids and classes; and each input file's path, size and modification time), so a
changed file, option or policy makes a new entry and a stale one is never used. Entries are written
atomically; an unreadable entry is rebuilt. Version 2 keys name the resize policy: entries of version 1 are
never found again, so their sets are read afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from medsynth._primitives import atomic_open

CACHE_VERSION = 2  # 2: the key holds the resize policy (medsynth.imageset.resize)


def default_cache_dir() -> Path:
    """``$MEDSYNTH_CACHE``, or ``~/.cache/medsynth``."""
    return Path(os.environ.get("MEDSYNTH_CACHE", Path.home() / ".cache" / "medsynth"))


def file_stamp(path: Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime) of ``path``, (path, -1, -1) when it cannot be stat'ed."""
    try:
        st = path.stat()
        return str(path.resolve()), st.st_size, int(st.st_mtime)
    except OSError:
        return str(path), -1, -1


def cached_arrays(
    description: Any,
    files: list[Path],
    build: Callable[[], dict[str, np.ndarray]],
    *,
    cache_dir: Path | None = None,
) -> dict[str, np.ndarray]:
    """The arrays ``build`` returns for ``description`` and ``files``, from the cache when an entry exists.

    This is a :data:`medsynth.imageset.files.ArrayCache` once ``cache_dir`` is bound.

    Parameters
    ----------
    description
        JSON-serialisable value that determines the arrays with ``files`` (hashed into the entry's name).
    files
        The input files; each one's :func:`file_stamp` is part of the key.
    build
        Makes the arrays when there is no usable entry; they must not be object arrays.
    cache_dir
        Folder of the entries (default :func:`default_cache_dir`).

    Returns
    -------
    dict of str to numpy.ndarray
        The arrays, as built or as read back.
    """
    stamps = [file_stamp(f) for f in files]
    key = hashlib.sha256(json.dumps([CACHE_VERSION, description, stamps]).encode()).hexdigest()[:24]
    entry = (cache_dir or default_cache_dir()) / f"images-{key}.npz"
    if entry.is_file():
        try:
            with np.load(entry, allow_pickle=False) as npz:
                return {name: npz[name] for name in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            pass  # an unreadable entry is rebuilt
    arrays = build()
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(entry) as handle:
            np.savez(handle, allow_pickle=False, **arrays)
    except OSError:
        pass  # a read-only cache folder costs speed, not correctness
    return arrays
