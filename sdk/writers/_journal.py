"""The journal of a run in progress: one ``path,size,sha256`` line per file as soon as it is published.

A run appends to ``<out>/.medsynth-journal.csv`` while it writes and deletes it once the manifest, which
records the same, is written. A killed run leaves it behind, so the next run can verify the files the
killed one published instead of regenerating them or trusting them blindly. The file is only ever written
by the holder of the folder's lock; a torn last line (a kill mid-write) is ignored.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TextIO

__all__ = ["JOURNAL_FILE", "FileRecord", "Journal", "read_journal"]

JOURNAL_FILE = ".medsynth-journal.csv"
_SHA256 = re.compile(r"[0-9a-f]{64}")

FileRecord = tuple[int, str]  # (size in bytes, hex sha256) of a published file


def read_journal(out: Path) -> dict[str, FileRecord]:
    """Return path -> (size, sha256) of the journal in ``out`` (empty if there is none)."""
    path = out / JOURNAL_FILE
    records: dict[str, FileRecord] = {}
    if path.is_symlink() or not path.is_file():
        return records
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.reader(handle):
                if len(row) == 3 and row[1].isdigit() and _SHA256.fullmatch(row[2]):
                    records[row[0]] = (int(row[1]), row[2])
    except (OSError, csv.Error):
        return {}
    return records


class Journal:
    """Appends records to ``<out>/.medsynth-journal.csv``; opened on the first record."""

    def __init__(self, out: Path) -> None:
        self.path = out / JOURNAL_FILE
        self._handle: TextIO | None = None

    def add(self, path: str, size: int, sha256: str) -> None:
        """Record one published file."""
        if self._handle is None:
            self._handle = self.path.open("a", newline="", encoding="utf-8")
        csv.writer(self._handle, lineterminator="\n").writerow((path, size, sha256))

    def flush(self) -> None:
        """Hand the records written so far to the operating system."""
        if self._handle is not None:
            self._handle.flush()

    def close(self, *, remove: bool) -> None:
        """Close the file; delete it when the manifest now holds its records."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if remove:
            self.path.unlink(missing_ok=True)
