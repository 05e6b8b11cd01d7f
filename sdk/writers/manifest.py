"""The run manifest: one CSV row per synthetic image, written last and atomically.

Columns: ``path`` (relative to the output folder, ``/``-separated), ``class``, ``class_index``, ``seed``,
``index``, ``model_sha256``, ``medsynth_version``, ``synthetic`` (always 1), ``size`` and ``sha256`` (of the
file the row names, so that anyone, and a resumed run, can verify it). For an NPZ run every row names the same
``.npz`` file and the rows follow the file's order. Manifests of earlier medsynth versions (without the last
two columns) are read with ``size`` -1 and ``sha256`` empty: their files count as unverified.
"""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from medsynth.errors import OutputError
from medsynth.writers._atomic import atomic_open

__all__ = [
    "MANIFEST_NAME",
    "COLUMNS",
    "ManifestRow",
    "read_manifest",
    "write_manifest",
    "merge_rows",
    "merge_sorted",
]

MANIFEST_NAME = "manifest.csv"


@dataclass(frozen=True)
class ManifestRow:
    """One image of a run."""

    path: str  # relative to the output folder, "/"-separated
    class_name: str  # written as the "class" column
    class_index: int
    seed: int
    index: int
    model_sha256: str
    medsynth_version: str
    synthetic: int = 1
    size: int = -1  # bytes of the file at ``path``; -1: not recorded
    sha256: str = ""  # hex sha256 of the file at ``path``; "": not recorded


COLUMNS = tuple("class" if f.name == "class_name" else f.name for f in fields(ManifestRow))
_OLD_COLUMNS = COLUMNS[:-2]  # medsynth 0.1 manifests
_BLOCK_ROWS = 4096  # rows per write while streaming a manifest


def write_manifest(path: Path, rows: Iterable[ManifestRow]) -> None:
    """Write ``rows`` to the CSV file ``path`` atomically, with ``\\n`` line ends.

    The rows are drawn one at a time and written in blocks, so a manifest of any length streams through
    bounded memory; ``path`` appears only once the last row is written.

    Raises
    ------
    OSError
        The folder is not writable.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    with atomic_open(path) as handle:
        for count, row in enumerate(rows, start=1):
            writer.writerow(astuple(row))
            if count % _BLOCK_ROWS == 0:
                handle.write(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
        handle.write(buffer.getvalue().encode("utf-8"))


def read_manifest(path: Path) -> list[ManifestRow]:
    """Read a manifest written by :func:`write_manifest`.

    Raises
    ------
    OutputError
        The file is not a medsynth manifest.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(header) not in (COLUMNS, _OLD_COLUMNS):
                shown = header if header is None or len(str(header)) < 300 else f"{str(header)[:300]}..."
                raise OutputError(
                    f"{path} is not a medsynth manifest (header {shown}); move it away or "
                    "choose another --out"
                )
            verified = len(header) == len(COLUMNS)
            return [
                ManifestRow(
                    path=r[0],
                    class_name=r[1],
                    class_index=int(r[2]),
                    seed=int(r[3]),
                    index=int(r[4]),
                    model_sha256=r[5],
                    medsynth_version=r[6],
                    synthetic=int(r[7]),
                    size=int(r[8]) if verified else -1,
                    sha256=r[9] if verified else "",
                )
                for r in reader
            ]
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise OutputError(
            f"{path} is not a readable medsynth manifest ({exc}); move it away or choose another --out"
        ) from exc


def merge_rows(old: Iterable[ManifestRow], new: Iterable[ManifestRow]) -> list[ManifestRow]:
    """Combine the rows of an earlier manifest with the rows of this run.

    Rows of ``old`` whose file this run wrote are replaced by the new ones; the result is sorted by class
    index, index and path, so it does not depend on the order in which runs were made.
    """
    new = list(new)
    rewritten = {row.path for row in new}
    kept = [row for row in old if row.path not in rewritten]
    return sorted(kept + new, key=lambda r: (r.class_index, r.index, r.path))


def _order(row: ManifestRow) -> tuple[int, int, str]:
    return row.class_index, row.index, row.path


def merge_sorted(
    old: Iterable[ManifestRow], new: Iterable[ManifestRow], replaced: Callable[[ManifestRow], bool]
) -> Iterator[ManifestRow]:
    """Combine an earlier manifest with the rows of a run that arrive one at a time, lazily.

    Like :func:`merge_rows`, for a run too large to hold its rows: ``new`` must come sorted by class index,
    index and path (as a run makes them), and ``replaced(row)`` says whether a row of ``old`` names a file
    of this run (its row is then dropped: the run's own row replaces it).
    """
    kept = sorted((row for row in old if not replaced(row)), key=_order)
    return heapq.merge(kept, new, key=_order)
