"""Image sets in ``.npz`` files, both forms, read with bounds checked from the headers first:

- ``images`` (uint8 (N, H, W[, C])) with optional ``labels`` and ``class_names`` (or ``classes``): what
  ``medsynth generate --format npz`` writes;
- MedMNIST: ``{split}_images`` (N, H, W[, C]) uint8 and ``{split}_labels`` (N, 1) for train, val and test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medsynth._npz_limits import MAX_NPZ_BYTES, check_npz, load_npz
from medsynth.errors import DataError
from medsynth.imageset.image_set import ImageSet
from medsynth.imageset.resize import fit_array, to_channels

__all__ = ["MEDMNIST_LICENSE", "MEDMNIST_SPLITS", "is_medmnist", "read_npz"]

MEDMNIST_LICENSE = "CC BY 4.0 (MedMNIST v2, Yang et al. 2023)"
MEDMNIST_SPLITS = ("train", "val", "test")  # what split None (the whole set) reads


def is_medmnist(path: Path, max_bytes: int = MAX_NPZ_BYTES) -> bool:
    """Whether ``path`` holds MedMNIST's per-split arrays (and no ``images`` array)."""
    names = check_npz(path, max_bytes=max_bytes)
    return "images" not in names and any(n.endswith("_images") for n in names)


def read_npz(
    path: Path,
    *,
    size: int | None,
    channels: int | None,
    split: str | None,
    max_per_class: int | None = None,
    max_bytes: int = MAX_NPZ_BYTES,
) -> ImageSet:
    """Read an ``.npz`` image set in either form (see the module).

    Parameters
    ----------
    path
        The file.
    size
        Side of the square output images (the resize policy); None keeps the stored size.
    channels
        1 or 3; None keeps the stored channels.
    split
        MedMNIST only: the split to read; None reads train, val and test together.
    max_per_class
        Keep at most this many images per class (the first ones).
    max_bytes
        Refuse an archive whose arrays would take more bytes than this, before decompressing anything.

    Raises
    ------
    DataError
        A damaged or oversized archive, missing arrays, a split the file lacks (or any split for the
        ``images`` form), images that are not uint8, or labels that do not match them.
    """
    if is_medmnist(path, max_bytes):
        images, labels, classes, ids, name = _medmnist(path, split, max_bytes)
        license = MEDMNIST_LICENSE
    else:
        if split is not None:
            raise DataError(
                f"{path} has no splits (it is not a MedMNIST file); cannot select split {split!r}"
            )
        images, labels, classes = _arrays(path, max_bytes)
        ids, name, license = tuple(str(i) for i in range(len(images))), str(path), ""
    if max_per_class is not None:
        keep = np.concatenate([np.flatnonzero(labels == i)[:max_per_class] for i in range(len(classes))])
        keep.sort()
        images, labels, ids = images[keep], labels[keep], tuple(ids[i] for i in keep)
    if size is not None and images.shape[1:3] != (size, size):
        images = np.stack([fit_array(im, size) for im in images])
    if channels is not None:
        images = to_channels(images, channels)
    return ImageSet(np.ascontiguousarray(images), labels, classes, ids, name=name, license=license)


def _medmnist(
    path: Path, split: str | None, max_bytes: int
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...], str]:
    splits = MEDMNIST_SPLITS if split is None else (split,)
    names = check_npz(path, max_bytes=max_bytes)
    missing = [s for s in splits if f"{s}_images" not in names or f"{s}_labels" not in names]
    if missing:
        raise DataError(
            f"{path} has no {missing[0]}_images/{missing[0]}_labels arrays; it holds {sorted(names)[:20]}"
        )
    data = load_npz(
        path, {f"{s}_{k}": True for s in splits for k in ("images", "labels")}, max_bytes=max_bytes
    )
    images = np.concatenate([data[f"{s}_images"] for s in splits])
    try:
        labels = np.concatenate([data[f"{s}_labels"].reshape(-1) for s in splits]).astype(np.int64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: labels must be integers ({exc})") from exc
    if not len(images):
        raise DataError(f"{path} has no images in split {split!r}")
    if len(labels) != len(images) or labels.min() < 0:
        raise DataError(f"{path}: labels must be one non-negative class index per image")
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DataError(f"{path}: expected uint8 (N, H, W[, C]) images, got {images.dtype} {images.shape}")
    if images.ndim == 3:
        images = images[..., None]
    which = split if split is not None else "all"
    ids = tuple(f"{which}-{i}" for i in range(len(images)))
    classes = tuple(str(i) for i in range(int(labels.max()) + 1))
    return images, labels, classes, ids, f"MedMNIST {path.stem} ({which})"


def _arrays(path: Path, max_bytes: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    data = load_npz(
        path, {"images": True, "labels": False, "class_names": False, "classes": False}, max_bytes=max_bytes
    )
    images = data["images"]
    try:
        labels = (
            np.asarray(data["labels"], dtype=np.int64)
            if "labels" in data
            else np.zeros(len(images), np.int64)
        )
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: 'labels' must be integers ({exc})") from exc
    names = data.get("class_names", data.get("classes"))
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DataError(f"{path}: 'images' must be uint8 (N, H, W[, C]), got {images.dtype} {images.shape}")
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[0] == 0:
        raise DataError(f"{path}: 'images' holds no image")
    if labels.ndim != 1 or (names is not None and names.ndim != 1):
        raise DataError(f"{path}: 'labels' and 'class_names' must be 1-D arrays")
    classes = (
        tuple(str(n) for n in names) if names is not None else tuple(str(i) for i in range(labels.max() + 1))
    )
    if labels.size != images.shape[0] or (labels.size and (labels.min() < 0 or labels.max() >= len(classes))):
        raise DataError(f"{path}: 'labels' do not match the images or the class names")
    return images, labels, classes
