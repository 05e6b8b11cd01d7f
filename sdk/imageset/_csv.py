"""Reading the CSV files of image sets: UTF-8 rows, and the paths they list kept inside the CSV's folder."""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath, PureWindowsPath

from medsynth.errors import DataError


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of ``path`` as :class:`csv.DictReader` gives them (a UTF-8 BOM is accepted), a short row's
    missing cells as "" and a long row's extra cells left out.

    Raises
    ------
    DataError
        The file cannot be read, is not UTF-8, is not CSV, or has no rows.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [{k: v or "" for k, v in row.items() if k is not None} for row in csv.DictReader(handle)]
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)"
        ) from exc
    except (OSError, csv.Error) as exc:
        raise DataError(f"cannot read {path} as a CSV file: {exc}") from exc
    if not rows:
        raise DataError(f"{path} has no rows")
    return rows


def listed(path: Path, value: str, line: int) -> Path:
    """A path cell of the CSV ``path``: relative, and inside the CSV's folder (links resolved).

    Raises
    ------
    DataError
        An empty or absolute path, or one that leads out of the folder (``..``, a link).
    """
    base = path.parent.resolve()
    bad = (
        not value
        or "\0" in value
        or PurePosixPath(value).is_absolute()
        or PureWindowsPath(value).is_absolute()
        or bool(PureWindowsPath(value).drive)
    )
    if bad or not (base / value).resolve().is_relative_to(base):
        raise DataError(
            f"{path}, line {line}: path {value[:200]!r} lies outside {path.parent}; the files a "
            "CSV lists must be relative paths inside its folder"
        )
    return path.parent / value
