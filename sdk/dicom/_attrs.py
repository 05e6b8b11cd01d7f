"""Reading single attribute values from a pydicom dataset without trusting them.

A malformed file can make pydicom raise almost any exception when a value is converted on access; each
helper turns that, and values of the wrong kind, into :class:`~medsynth.errors.DicomError` naming the file and
keyword.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from medsynth.errors import DicomError, MedsynthError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pydicom.dataset import Dataset

__all__ = ["guarded", "get", "first", "number", "integer"]


@contextmanager
def guarded(source: str) -> Iterator[None]:
    """Run a block that reads a data set: pydicom's warnings are silenced (its logger still records them) and
    any exception that is not a :class:`~medsynth.errors.MedsynthError` becomes a :class:`DicomError`.

    pydicom converts element values lazily, on first access, so a malformed value can raise (or warn) anywhere
    a data set is read, not only in :func:`pydicom.dcmread`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except MedsynthError:
            raise
        except Exception as exc:  # a malformed file makes pydicom raise almost anything; all mean "bad file"
            raise DicomError(f"{source} is malformed ({type(exc).__name__}: {exc})") from exc


def get(ds: Dataset, keyword: str, source: str) -> Any:
    """``ds.get(keyword)``; a value pydicom cannot convert raises :class:`DicomError`."""
    try:
        return ds.get(keyword)
    except Exception as exc:  # pydicom raises many types for malformed values; all mean "cannot read it"
        raise DicomError(f"{source}: cannot read {keyword}: {exc}") from exc


def first(value: Any) -> Any:
    """The first value of a multi-valued attribute (``None`` if empty), or the value itself."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def number(ds: Dataset, keyword: str, source: str) -> float | None:
    """The first value of ``keyword`` as a finite float, or ``None`` when absent or empty."""
    value = first(get(ds, keyword, source))
    if value is None or value == "":
        return None
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        raise DicomError(f"{source}: {keyword} {value!r} is not a number") from None
    if not math.isfinite(result):
        raise DicomError(f"{source}: {keyword} {value!r} is not a finite number")
    return result


def integer(ds: Dataset, keyword: str, source: str, default: int | None = None) -> int:
    """The first value of ``keyword`` as an int; ``default`` when absent (``None``: the value is required)."""
    result = number(ds, keyword, source)
    if result is None:
        if default is None:
            raise DicomError(f"{source}: the required attribute {keyword} is missing")
        return default
    if result != int(result):
        raise DicomError(f"{source}: {keyword} {result!r} is not an integer")
    return int(result)
