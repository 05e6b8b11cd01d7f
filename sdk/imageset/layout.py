"""Which layout a data path is in, decided from the path alone (names, headers, the first few files)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medsynth.errors import DataError
from medsynth.imageset.dicom_folders import looks_like_dicom
from medsynth.imageset.folders import class_folders, csv_has_splits
from medsynth.imageset.isic import find_isic_csv
from medsynth.imageset.npz import is_medmnist

__all__ = ["LAYOUTS", "Layout", "detect_layout"]

LAYOUTS = {
    "csv": "a CSV listing images: an ISIC labels or ground-truth CSV, or path,class rows",
    "generate-output": "a folder written by medsynth generate (manifest.csv, <class>/<name>.png)",
    "isic-folder": "a folder holding ISIC's labels.csv or ISIC*GroundTruth*.csv beside its images",
    "class-folders": "a folder of class sub-folders of image files",
    "dicom-folders": "a folder of class sub-folders of DICOM files",
    "flat-folder": "a folder of image files, one class ('all')",
    "npz": "an .npz of images, labels and class_names (what generate --format npz writes)",
    "medmnist": "a MedMNIST .npz (train/val/test images and labels)",
}


@dataclass(frozen=True)
class Layout:
    """A data path and the layout it is in."""

    kind: str  # a key of LAYOUTS
    path: Path  # the path given
    source: Path  # the file the images are listed in (a CSV), or the path itself

    @property
    def has_splits(self) -> bool:
        """Whether the layout names splits (a CSV with a ``split`` column, MedMNIST)."""
        if self.kind == "medmnist":
            return True
        return self.source.suffix.lower() == ".csv" and csv_has_splits(self.source)


def detect_layout(path: str | Path, *, max_npz_bytes: int | None = None) -> Layout:
    """Find the layout of ``path`` (see :data:`LAYOUTS`).

    A folder is, in this order: generate output (it has ``manifest.csv``), an ISIC folder, class folders
    (DICOM when their first file is), or a flat folder of images.

    Raises
    ------
    DataError
        The path does not exist or is neither a folder, an ``.npz`` nor a ``.csv``.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"data set {p} does not exist")
    suffix = p.suffix.lower()
    if p.is_file() and suffix == ".npz":
        medmnist = is_medmnist(p) if max_npz_bytes is None else is_medmnist(p, max_npz_bytes)
        return Layout("medmnist" if medmnist else "npz", p, p)
    if p.is_file() and suffix == ".csv":
        return Layout("csv", p, p)
    if p.is_dir():
        if (p / "manifest.csv").is_file():
            return Layout("generate-output", p, p / "manifest.csv")
        isic = find_isic_csv(p)
        if isic is not None:
            return Layout("isic-folder", p, isic)
        if class_folders(p):
            return Layout("dicom-folders" if looks_like_dicom(p) else "class-folders", p, p)
        return Layout("flat-folder", p, p)
    raise DataError(
        f"{p} is not a data set medsynth can read: expected a folder (class sub-folders of images or DICOM "
        "files, an ISIC folder, generate output), an .npz or a .csv file"
    )
