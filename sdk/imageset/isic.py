"""ISIC challenge data as ISIC publishes it, and the one ISIC label rule.

Two CSV layouts are read as they are:

- the official ground truth, ``ISIC-2017_GroundTruth_*.csv``: ``image_id,melanoma,seborrheic_keratosis``, one
  0/1 column per diagnosis (a row with both 0 is a nevus), with the images in ``images/`` or beside the CSV;
- a ``labels.csv`` with ``image_id,split,diagnosis,path`` (the layout of ../shared/data/isic2017; ``split``
  and ``path`` are optional, ``path`` defaulting to ``images/<image_id>.jpg``).

The label rule, :func:`isic_class`: a diagnosis column is set when its value, read as a number, is >= 0.5.
The official file writes ``0.0``/``1.0`` floats, other copies write ``0``/``1``; ``>= 0.5`` reads both (and a
soft label the same way as rounding would) where ``== 1`` would depend on how the number is spelled. A row
with both diagnoses set, or a value that is not a number, is refused. Training, ``medsynth evaluate`` and
``medsynth generate --balance-from`` all read ISIC labels through this module.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from medsynth.errors import DataError
from medsynth.imageset._csv import listed

__all__ = [
    "ISIC2017_CLASSES",
    "ISIC2017_ONE_HOT",
    "ISIC_LICENSE",
    "is_isic_ground_truth",
    "isic_class",
    "isic_rows",
    "find_isic_csv",
    "class_order",
]

ISIC2017_CLASSES = ("nevus", "melanoma", "seborrheic_keratosis")  # ISIC's order; nevus is "neither"
ISIC2017_ONE_HOT = ("melanoma", "seborrheic_keratosis")  # the 0/1 columns of the ground-truth CSV
ISIC_LICENSE = "CC-0 (ISIC challenge data)"
_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".PNG")  # how ISIC images are stored, in the order tried


def is_isic_ground_truth(columns: Collection[str]) -> bool:
    """Whether a CSV header is ISIC 2017's one-hot ground truth (``image_id``, one column per diagnosis)."""
    return {"image_id", *ISIC2017_ONE_HOT} <= set(columns)


def is_isic_labels(columns: Collection[str]) -> bool:
    """Whether a CSV header is a labels file: ``diagnosis`` and ``image_id`` or ``path``."""
    cols = set(columns)
    return "diagnosis" in cols and bool(cols & {"image_id", "path"})


def isic_class(row: Mapping[str, str | None], where: str) -> str:
    """Return the class name of one ground-truth row (a column is set when its value is >= 0.5).

    Parameters
    ----------
    row
        The row as :class:`csv.DictReader` gives it.
    where
        The file and line, for error messages.

    Returns
    -------
    str
        ``"melanoma"``, ``"seborrheic_keratosis"`` or, when both are 0, ``"nevus"``.

    Raises
    ------
    DataError
        A value that is not a number, or a row marked with both diagnoses.
    """
    flags = []
    for column in ISIC2017_ONE_HOT:
        text = (row.get(column) or "").strip()
        try:
            flags.append(float(text) >= 0.5)
        except ValueError as exc:
            raise DataError(
                f"{where}: {column!r} is {text!r}, not 0 or 1 (ISIC ground truth has one 0/1 "
                "column per diagnosis)"
            ) from exc
    if all(flags):
        raise DataError(
            f"{where}: both melanoma and seborrheic_keratosis are 1; a ground-truth row has one diagnosis"
        )
    return next((name for name, flag in zip(ISIC2017_ONE_HOT, flags, strict=True) if flag), "nevus")


def isic_rows(csv_path: Path, rows: list[dict[str, str]]) -> list[tuple[str, str, Path]] | None:
    """(image id, class name, image path) of each row of an ISIC CSV, or None for another header.

    Parameters
    ----------
    csv_path
        The CSV file; image paths are resolved inside its folder.
    rows
        Its rows (already filtered by split).

    Raises
    ------
    DataError
        A bad label (see :func:`isic_class`), or a listed path that leads out of the CSV's folder.
    """
    columns = set(rows[0]) if rows else set()
    out: list[tuple[str, str, Path]] = []
    if is_isic_labels(columns):
        for line, row in enumerate(rows, start=2):
            image_id = row.get("image_id") or ""
            rel = row.get("path") or f"images/{image_id}.jpg"
            out.append((image_id or rel, row["diagnosis"], listed(csv_path, rel, line)))
        return out
    if is_isic_ground_truth(columns):
        root = csv_path.parent
        image_dir = root / "images" if (root / "images").is_dir() else root
        for line, row in enumerate(rows, start=2):
            image_id = listed(csv_path, row["image_id"], line).name
            name = isic_class(row, f"{csv_path}, line {line} (row {image_id})")
            out.append((image_id, name, _image_path(image_dir, image_id)))
        return out
    return None


def _image_path(image_dir: Path, image_id: str) -> Path:
    for ext in _SUFFIXES:
        candidate = image_dir / f"{image_id}{ext}"
        if candidate.is_file():
            return candidate
    return image_dir / f"{image_id}.jpg"  # missing: reported when it is read


def find_isic_csv(root: Path) -> Path | None:
    """The labels file of an ISIC folder: ``labels.csv``, else the first ``ISIC*GroundTruth*.csv``/None."""
    if (root / "labels.csv").is_file():
        return root / "labels.csv"
    hits = sorted(root.glob("ISIC*GroundTruth*.csv"))
    return hits[0] if hits else None


def class_order(names: Collection[str]) -> tuple[str, ...]:
    """ISIC 2017's own order where the names are its classes, else sorted."""
    if set(names) <= set(ISIC2017_CLASSES):
        return tuple(c for c in ISIC2017_CLASSES if c in names)
    return tuple(sorted(names))
