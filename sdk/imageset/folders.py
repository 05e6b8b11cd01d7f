"""Image sets listed by folders and CSV files: class-per-folder trees, flat folders, and CSV listings (ISIC's
two layouts, or ``path,class`` such as the ``manifest.csv`` that ``medsynth generate`` writes)."""

from __future__ import annotations

from pathlib import Path

from medsynth.errors import DataError
from medsynth.imageset._csv import listed, read_rows
from medsynth.imageset.files import IMAGE_SUFFIXES, Listing
from medsynth.imageset.isic import ISIC_LICENSE, class_order, isic_rows

__all__ = [
    "UNLABELLED",
    "class_folders",
    "list_class_folders",
    "list_flat_folder",
    "list_csv",
    "csv_has_splits",
]

UNLABELLED = "all"  # the class of the images of a flat folder


def class_folders(root: Path) -> list[str]:
    """The class folders of ``root``: its non-hidden sub-folders, sorted (empty for a flat folder)."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def list_class_folders(root: Path) -> Listing:
    """Every image file one level below ``root``'s class folders; ids are ``class/stem``."""
    classes = tuple(class_folders(root))
    rows = [(f"{c}/{p.stem}", c, p) for c in classes for p in _images_in(root / c)]
    return Listing(rows, classes, f"class folders ({root.name})")


def list_flat_folder(root: Path) -> Listing:
    """The image files of a folder without class folders: one class, :data:`UNLABELLED`."""
    return Listing([(p.stem, UNLABELLED, p) for p in _images_in(root)], (UNLABELLED,), str(root))


def csv_has_splits(path: Path) -> bool:
    """Whether the CSV ``path`` has a ``split`` column."""
    return "split" in read_rows(path)[0]


def list_csv(path: Path, split: str | None) -> Listing:
    """The images a CSV lists, with their classes.

    Parameters
    ----------
    path
        An ISIC labels CSV (``image_id`` or ``path``, ``diagnosis``[, ``split``]), the official ISIC ground
        truth (``image_id,melanoma,seborrheic_keratosis``), or ``path,class`` rows (generate's manifest).
    split
        Keep only the rows of this ``split``; None keeps every row.

    Raises
    ------
    DataError
        An unreadable or unknown CSV, a split the CSV does not have, a bad label, or a listed path outside
        the CSV's folder.
    """
    rows = read_rows(path)
    columns = set(rows[0])
    if split is not None:
        if "split" not in columns:
            raise DataError(
                f"{path} has no split column, so split {split!r} cannot be applied (an official ISIC "
                "ground-truth file has none; read it whole)"
            )
        rows = [r for r in rows if r["split"] == split]
        if not rows:
            raise DataError(f"{path} has no rows with split {split!r}")
    isic = isic_rows(path, rows)
    listing = isic if isic is not None else []
    if isic is None and {"path", "class"} <= columns:
        listing = [(r["path"], r["class"], listed(path, r["path"], n)) for n, r in enumerate(rows, start=2)]
    for line, (_, cls, _) in enumerate(listing, start=2):
        if not cls.strip():
            raise DataError(f"{path}, line {line}: the row names no class; give every image its class")
    if isic is not None:
        where = f"split {split}" if split is not None else "all rows"
        return Listing(
            isic,
            class_order({c for _, c, _ in isic}),
            f"ISIC ({path.parent.name}, {where})",
            ISIC_LICENSE,
            "XC",
        )
    if listing:
        return Listing(listing, tuple(dict.fromkeys(c for _, c, _ in listing)), str(path))
    raise DataError(
        f"{path} is neither an ISIC ground-truth CSV (image_id, melanoma, seborrheic_keratosis), an ISIC "
        "labels CSV (image_id or path, diagnosis[, split]) nor a list of (path, class) like the manifest.csv "
        f"of medsynth generate; its columns are {sorted(columns)[:20]}"
    )
