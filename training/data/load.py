"""Turn a data path into an :class:`ImageSet`: detect the layout, read and resize once, cache the arrays."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from medsynth.errors import DataError
from medsynth.training.data.cache import cached_arrays, file_stamp
from medsynth.training.data.folders import class_folders, read_class_folders
from medsynth.training.data.image_set import ImageSet, check_class_counts
from medsynth.training.data.isic import ISIC_LICENSE, class_order, find_isic_csv, read_isic_labels
from medsynth.training.data.medmnist import MEDMNIST_LICENSE, read_medmnist
from medsynth.training.data.resize import read_image, resize_square, to_channels

WHOLE_SET_SPLITS = ("", "all", "train")  # what a data set without splits accepts as its split


def load_image_set(
    data: str | Path,
    *,
    image_size: int,
    channels: int = 0,
    split: str = "train",
    window: str = "",
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImageSet:
    """Read a data set in any supported layout at ``image_size`` and return it as an :class:`ImageSet`.

    Parameters
    ----------
    data
        An ISIC folder (``labels.csv`` or the official ground-truth CSV beside an image folder) or the CSV
        itself, a class-per-folder tree, a MedMNIST ``.npz``, or a folder of DICOM files in class sub-folders.
    image_size
        Side of the square output images.
    channels
        1 or 3; 0 keeps the data set's own (RGB for photographs, 1 for MedMNIST grayscale, the files' own for
        DICOM).
    split
        Split to read where the data set has splits; "all" reads every split. Class folders have none and
        accept only "train", "all" or "".
    window
        DICOM only: "from-file" (the default), "full", a preset name or "C,W".
    cache_dir
        Where preprocessed arrays are kept (default ``$MEDSYNTH_CACHE`` or ``~/.cache/medsynth``).
    progress
        Called with a one-line message about skipped files.

    Returns
    -------
    ImageSet
        The images; ``skipped`` lists the unreadable inputs and why.

    Raises
    ------
    DataError
        The path does not exist or is in no known layout, the split does not exist, a class is empty or has
        a single image, or no image can be read.
    """
    path = Path(data)
    if not path.exists():
        raise DataError(f"data set {path} does not exist")
    if path.suffix.lower() == ".npz":
        return _medmnist(path, image_size, channels, split)
    csv_path = find_isic_csv(path) if path.is_dir() or path.suffix.lower() == ".csv" else None
    if csv_path is not None:
        rows = read_isic_labels(csv_path, split)
        name = f"ISIC ({csv_path.parent.name}, split {split})"
        return _cached_files(
            rows,
            name,
            ISIC_LICENSE,
            image_size,
            channels or 3,
            cache_dir,
            progress,
            order=class_order({r[1] for r in rows}),
            modality="XC",
        )
    if path.is_dir() and class_folders(path):
        if split not in WHOLE_SET_SPLITS:
            raise DataError(
                f"{path} is a tree of class folders, which has no splits; cannot select split "
                f"{split!r} (use train or all)"
            )
        if _looks_like_dicom(path):
            from medsynth.training.data.dicom_folder import read_dicom_classes

            return read_dicom_classes(
                path,
                image_size,
                window or "from-file",
                channels=channels,
                cache_dir=cache_dir,
                progress=progress,
            )
        rows = read_class_folders(path)
        return _cached_files(
            rows,
            f"class folders ({path.name})",
            "",
            image_size,
            channels or 3,
            cache_dir,
            progress,
            order=tuple(class_folders(path)),
        )
    raise DataError(
        f"{path} is not a data set medsynth can read: expected an ISIC folder or CSV, a folder "
        "of class sub-folders of images or DICOM files, or a MedMNIST .npz"
    )


def _looks_like_dicom(root: Path) -> bool:
    """True when the first file of the first non-empty class folder is DICOM (by preamble or suffix)."""
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(class_dir.iterdir())[:3]:
            if f.is_file():
                with f.open("rb") as fh:
                    head = fh.read(132)
                preamble = len(head) == 132 and head[128:132] == b"DICM"
                return preamble or f.suffix.lower() in (".dcm", ".dicom")
    return False


def _medmnist(path: Path, image_size: int, channels: int, split: str) -> ImageSet:
    images, labels = read_medmnist(path, split)
    if images.shape[1] != image_size:
        images = np.stack([resize_square(im, image_size) for im in images])
    if channels:
        images = to_channels(images, channels)
    n_classes = int(labels.max()) + 1
    ids = tuple(f"{split}-{i}" for i in range(len(images)))
    return ImageSet(
        images=np.ascontiguousarray(images),
        labels=labels,
        classes=tuple(str(i) for i in range(n_classes)),
        ids=ids,
        name=f"MedMNIST {path.stem} ({split})",
        license=MEDMNIST_LICENSE,
    )


def _cached_files(
    rows: list[tuple[str, str, Path]],
    name: str,
    license: str,
    size: int,
    channels: int,
    cache_dir: Path | None,
    progress: Callable[[str], None] | None,
    order: tuple[str, ...],
    modality: str = "",
) -> ImageSet:
    if not rows:
        raise DataError(f"{name} has no image files")
    check_class_counts({c: sum(r[1] == c for r in rows) for c in order}, name)  # before reading anything
    description = ["files", size, channels, name, order, [(i, c, *file_stamp(p)) for i, c, p in rows]]
    arrays = cached_arrays(description, cache_dir, lambda: _read_files(rows, name, size, channels, order))
    skipped = tuple((str(i), str(r)) for i, r in arrays["skipped"].tolist())
    if skipped and progress:
        progress(
            f"skipped {len(skipped)} unreadable image(s) of {len(rows)} in {name}; "
            f"first: {skipped[0][0]}: {skipped[0][1]}"
        )
    return ImageSet(
        images=arrays["images"],
        labels=arrays["labels"],
        classes=order,
        ids=tuple(str(i) for i in arrays["ids"].tolist()),
        name=name,
        license=license,
        skipped=skipped,
        modality=modality,
    )


def _read_files(
    rows: list[tuple[str, str, Path]], name: str, size: int, channels: int, order: tuple[str, ...]
) -> dict[str, np.ndarray]:
    index = {c: i for i, c in enumerate(order)}
    images, labels, ids, skipped = [], [], [], []
    iterator = rows
    try:
        from tqdm import tqdm

        iterator = tqdm(rows, desc=f"reading {name}", unit="img", file=sys.stderr, leave=False)
    except ImportError:
        pass
    for image_id, cls, path in iterator:
        try:
            images.append(read_image(path, size, channels))
        except (OSError, ValueError) as exc:
            skipped.append((image_id, f"{type(exc).__name__}: {exc}"))
            continue
        labels.append(index[cls])
        ids.append(image_id)
    if not images:
        raise DataError(
            f"no readable images in {name}: {len(skipped)} skipped, first: {skipped[0][0]}: {skipped[0][1]}"
        )
    return {
        "images": np.stack(images),
        "labels": np.asarray(labels, dtype=np.int64),
        "ids": np.asarray(ids),
        "skipped": np.asarray(skipped, dtype=str).reshape(-1, 2),
    }
