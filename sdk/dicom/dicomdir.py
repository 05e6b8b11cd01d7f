"""The files a DICOMDIR references, refusing any reference that leaves the DICOMDIR's folder.

A DICOMDIR comes with the media it indexes and is as untrusted as the files: a Referenced File ID such as
``..\\..\\etc\\passwd``, an absolute component, or a symbolic link that resolves outside the folder would make
a reader open files the user never pointed it at. Any such reference refuses the whole DICOMDIR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medsynth.dicom._attrs import get, guarded
from medsynth.dicom.reader import DEFAULT_LIMITS, Limits, read
from medsynth.errors import DicomError

__all__ = ["dicomdir_files"]

_FORBIDDEN = ("/", "\\", ":", "\0")


def _components(value: Any) -> list[str]:
    """The components of a Referenced File ID: a string or a multi-value of strings."""
    values: list[Any] = (
        [value] if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") else list(value)
    )
    return [v.decode("ascii", "replace") if isinstance(v, bytes) else str(v) for v in values]


def dicomdir_files(dicomdir: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> list[Path]:
    """List the files a DICOMDIR references, in record order, each once.

    Parameters
    ----------
    dicomdir
        The DICOMDIR file.
    limits
        Size bounds for reading it.

    Returns
    -------
    list of pathlib.Path
        ``folder / component / ...`` for every Referenced File ID; files that do not exist are listed too
        (reading them reports them).

    Raises
    ------
    DicomError
        The DICOMDIR cannot be read, has no Directory Record Sequence, or references a path that leaves its
        folder (``..``, an absolute or drive component, a separator inside a component, or a symbolic link
        that resolves outside).
    """
    dicomdir = Path(dicomdir)
    source = str(dicomdir)
    ds = read(dicomdir, limits=limits)
    with guarded(source):
        return _referenced(ds, dicomdir.parent, source)


def _referenced(ds: Any, folder: Path, source: str) -> list[Path]:
    records = get(ds, "DirectoryRecordSequence", source)
    if records is None:
        raise DicomError(f"{source} is not a DICOMDIR (it has no Directory Record Sequence)")
    root = folder.resolve()
    files: dict[Path, None] = {}
    for record in records:
        reference = get(record, "ReferencedFileID", source)
        if not reference:
            continue
        parts = _components(reference)
        shown = "\\".join(parts)
        if any(part.strip() in ("", ".", "..") or any(c in part for c in _FORBIDDEN) for part in parts):
            raise DicomError(
                f"{source} references {shown!r}, which leaves its folder or is not a plain "
                f"relative path; refusing the DICOMDIR (remove it to read the folder's files "
                f"directly)"
            )
        candidate = folder.joinpath(*(part.strip() for part in parts))
        if not candidate.resolve().is_relative_to(root):
            raise DicomError(
                f"{source} references {shown!r}, which resolves outside {root} (a symbolic "
                f"link?); refusing the DICOMDIR (remove it to read the folder's files directly)"
            )
        files[candidate] = None
    return list(files)
