"""ISIC challenge data as ISIC publishes it: a ground-truth CSV of one-hot diagnoses and a folder of images.

Two layouts are read as they are:
- the official ground truth, ``image_id,melanoma,seborrheic_keratosis`` as 0/1 (both 0 means nevus; decoded
  by :mod:`medsynth.isic`, which ``medsynth generate --balance-from`` shares), with the images in ``images/``
  or beside the CSV;
- a ``labels.csv`` with ``image_id,split,diagnosis,path`` (the layout of ../shared/data/isic2017).
"""

from __future__ import annotations

import csv
from pathlib import Path

from medsynth.errors import DataError
from medsynth.isic import ISIC2017_CLASSES, is_isic_ground_truth, isic_class

__all__ = ["ISIC2017_CLASSES", "ISIC_LICENSE", "find_isic_csv", "read_isic_labels", "class_order"]

ISIC_LICENSE = "CC-0 (ISIC challenge data)"


def find_isic_csv(root: Path) -> Path | None:
    """The labels file of an ISIC folder, or None when ``root`` is not one."""
    if root.is_file() and root.suffix.lower() == ".csv":
        return root
    for name in ("labels.csv",):
        if (root / name).is_file():
            return root / name
    hits = sorted(root.glob("ISIC*GroundTruth*.csv"))
    return hits[0] if hits else None


def read_isic_labels(csv_path: Path, split: str) -> list[tuple[str, str, Path]]:
    """Rows (image_id, class name, image path) of ``split`` ("" or "all" = every row)."""
    root = csv_path.parent
    try:
        with csv_path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {csv_path}: {exc}") from exc
    if not rows:
        raise DataError(f"{csv_path} has no rows")
    columns = set(rows[0])
    out: list[tuple[str, str, Path]] = []
    if {"image_id", "diagnosis"} <= columns:
        for row in rows:
            if split not in ("", "all") and "split" in columns and row["split"] != split:
                continue
            rel = row.get("path") or f"images/{row['image_id']}.jpg"
            out.append((row["image_id"], row["diagnosis"], root / rel))
    elif is_isic_ground_truth(columns):
        image_dir = root / "images" if (root / "images").is_dir() else root
        for line, row in enumerate(rows, start=2):
            name = isic_class(row, f"{csv_path}, line {line} (row {row['image_id']})")
            out.append((row["image_id"], name, _image_path(image_dir, row["image_id"])))
        if split not in ("", "all", "train"):
            raise DataError(
                f"{csv_path} is an official ground-truth file with no split column; "
                f"cannot select split {split!r} (use --split all)"
            )
    else:
        raise DataError(
            f"{csv_path} is neither an ISIC ground-truth CSV "
            "(image_id,melanoma,seborrheic_keratosis) nor a labels CSV "
            f"(image_id,diagnosis[,split,path]); its columns are {sorted(columns)}"
        )
    if not out:
        raise DataError(f"{csv_path} has no rows in split {split!r}")
    return out


def _image_path(image_dir: Path, image_id: str) -> Path:
    for ext in (".jpg", ".jpeg", ".png", ".JPG", ".PNG"):
        candidate = image_dir / f"{image_id}{ext}"
        if candidate.exists():
            return candidate
    return image_dir / f"{image_id}.jpg"


def class_order(names: set[str]) -> tuple[str, ...]:
    """ISIC 2017's own order where the names are its classes, else sorted."""
    if names <= set(ISIC2017_CLASSES):
        return tuple(c for c in ISIC2017_CLASSES if c in names)
    return tuple(sorted(names))
