"""Bounded NPZ reading: every member's shape, dtype and size checked from the headers before anything is
decompressed.

``numpy.load`` allocates what an ``.npy`` header claims and inflates what a zip member holds, so a 1 KB file
can ask for 30 TB or inflate to gigabytes. :func:`check_npz` reads only the zip directory and each member's
``.npy`` header (at most a few KB inflated per member), and refuses an archive whose arrays together would
exceed ``max_bytes``, before :func:`load_npz` reads any array.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from medsynth.errors import DataError

__all__ = ["MAX_NPZ_BYTES", "check_npz", "load_npz"]

MAX_NPZ_BYTES = 4 << 30  # default bound on the arrays of one archive, uncompressed
_MAX_MEMBERS = 1024
# What zipfile and numpy raise for damaged archives: bad headers, unsupported or encrypted members, bad data.
_DAMAGED = (
    OSError,
    ValueError,
    zipfile.BadZipFile,
    EOFError,
    NotImplementedError,
    RuntimeError,
    KeyError,
    struct.error,
    zlib.error,
)


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.3g} GiB"


def check_npz(path: Path, *, max_bytes: int = MAX_NPZ_BYTES) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Return ``name -> (shape, dtype)`` of every array of ``path`` after checking them against ``max_bytes``.

    Parameters
    ----------
    path
        The ``.npz`` file.
    max_bytes
        The most bytes the arrays may take together, uncompressed.

    Returns
    -------
    dict
        Array name (without ``.npy``) -> its shape and dtype, as the headers say.

    Raises
    ------
    DataError
        Not a zip archive (an empty file included), a member that is not an ``.npy`` array, an object
        (pickled) array, a header that disagrees with the member's size, or arrays larger than ``max_bytes``
        together (the message says how to raise the limit).
    """
    try:
        archive = zipfile.ZipFile(path)
    except _DAMAGED as exc:
        raise DataError(
            f"{path} is not an NPZ archive ({exc}); pass a file written by numpy.savez or "
            "medsynth generate --format npz"
        ) from exc
    arrays: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    with archive:
        members = archive.infolist()
        if not members:
            raise DataError(f"{path} is an empty NPZ archive: it holds no arrays")
        if len(members) > _MAX_MEMBERS:
            raise DataError(f"{path} has {len(members)} members; an NPZ image set has a handful of arrays")
        declared = sum(info.file_size for info in members)
        if declared > max_bytes:
            raise DataError(
                f"{path} would inflate to {_gib(declared)}, above the limit of "
                f"{_gib(max_bytes)}; raise it (--max-npz-bytes) if you mean it"
            )
        total = 0
        for info in members:
            if not info.filename.endswith(".npy"):
                raise DataError(f"{path}: member {info.filename[:100]!r} is not an .npy array")
            try:
                with archive.open(info) as handle:
                    version = np.lib.format.read_magic(handle)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
                    elif version == (2, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
                    else:
                        raise ValueError(f".npy format version {version} is not supported")
                    header_size = handle.tell()
            except _DAMAGED as exc:
                raise DataError(
                    f"{path}: member {info.filename[:100]!r} has no readable .npy header ({exc})"
                ) from exc
            del fortran
            if dtype.hasobject:
                raise DataError(
                    f"{path}: array {info.filename[:100]!r} holds Python objects; medsynth reads "
                    "numeric and string arrays only"
                )
            size = int(np.prod(shape, dtype=object)) * dtype.itemsize
            total += size
            if total > max_bytes:
                raise DataError(
                    f"{path}: its arrays claim {_gib(total)} or more (array "
                    f"{info.filename[:100]!r} has shape {tuple(shape)[:8]}), above the limit of "
                    f"{_gib(max_bytes)}; raise it (--max-npz-bytes) if you mean it"
                )
            if header_size + size != info.file_size:
                raise DataError(
                    f"{path}: array {info.filename[:100]!r} claims shape {tuple(shape)[:8]} "
                    f"({size} bytes) but the member holds {info.file_size - header_size}; the "
                    "file is corrupt"
                )
            arrays[info.filename[:-4]] = (tuple(shape), dtype)
    return arrays


def load_npz(
    path: Path, names: Mapping[str, bool], *, max_bytes: int = MAX_NPZ_BYTES
) -> dict[str, np.ndarray]:
    """Check ``path`` with :func:`check_npz`, then load the named arrays.

    Parameters
    ----------
    path
        The ``.npz`` file.
    names
        Array name -> whether it is required.
    max_bytes
        As for :func:`check_npz`.

    Returns
    -------
    dict
        The arrays found, by name.

    Raises
    ------
    DataError
        As for :func:`check_npz`, a required array missing, or an array that cannot be read.
    """
    arrays = check_npz(path, max_bytes=max_bytes)
    missing = [name for name, required in names.items() if required and name not in arrays]
    if missing:
        raise DataError(
            f"{path} has no {', '.join(repr(m) for m in missing)} array (it has "
            f"{', '.join(sorted(arrays))[:300]})"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: np.asarray(data[name]) for name in names if name in arrays}
    except _DAMAGED as exc:
        raise DataError(f"cannot read {path} as an NPZ archive ({exc})") from exc
