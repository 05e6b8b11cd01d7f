"""``load_image_set``: any supported data path to an :class:`ImageSet`, through one layout detection, one ISIC
label rule and one resize policy. Training, ``medsynth evaluate`` and the utility benchmark all call it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from medsynth._npz_limits import MAX_NPZ_BYTES
from medsynth.errors import DataError
from medsynth.imageset.dicom_folders import read_dicom_classes
from medsynth.imageset.files import MAX_PIXELS, ArrayCache, Listing, read_listing
from medsynth.imageset.folders import list_class_folders, list_csv, list_flat_folder
from medsynth.imageset.image_set import ImageSet
from medsynth.imageset.layout import detect_layout
from medsynth.imageset.npz import read_npz
from medsynth.imageset.resize import RESIZE_POLICY, check_resize_policy

__all__ = ["load_image_set"]


def load_image_set(
    path: str | Path,
    *,
    size: int | None = None,
    channels: int | None = None,
    split: str | None = None,
    max_per_class: int | None = None,
    min_per_class: int = 1,
    resize_policy: str = RESIZE_POLICY,
    window: str = "from-file",
    skip_unreadable: bool = False,
    cache: ArrayCache | None = None,
    progress: Callable[[str], None] | None = None,
    max_pixels: int = MAX_PIXELS,
    max_npz_bytes: int = MAX_NPZ_BYTES,
) -> ImageSet:
    """Load a labelled image set.

    Parameters
    ----------
    path : str or pathlib.Path
        One of (see :data:`medsynth.imageset.layout.LAYOUTS`): a folder with ``manifest.csv`` (what ``medsynth
        generate`` writes: ``<class>/<name>.png``); an ISIC folder (``labels.csv`` or the official
        ``ISIC-2017_GroundTruth_*.csv`` beside ``images/``) or such a CSV itself (``labels.csv``: image_id,
        split, diagnosis, path; the ground truth: image_id, melanoma, seborrheic_keratosis); a CSV of
        ``path,class`` rows; a class-per-folder tree of images or of DICOM files; a flat folder of images (one
        class, ``"all"``); an ``.npz`` with ``images`` (uint8 (N, H, W[, C])), ``labels`` and ``class_names``
        (or ``classes``), or a MedMNIST ``.npz``.
    size : int, optional
        Bring every image to ``size`` x ``size`` by the resize policy; by default all images take the first
        one's size (the same policy), arrays keep theirs.
    channels : int, optional
        1 (grey) or 3 (RGB); by default grey files load as grey and others as RGB, the set following its first
        image; arrays and DICOM keep their own.
    split : str, optional
        Keep only this split: the rows of a CSV's ``split`` column (e.g. ``train`` or ``val`` in ISIC's
        labels.csv), or a MedMNIST split. None reads the whole set; layouts without splits refuse any other.
    max_per_class : int, optional
        Keep at most this many images per class (the first ones, in file order).
    min_per_class : int
        1 or 2: refuse a class with fewer image files, before any is read (2 for training a GAN).
    resize_policy : str
        The resize policy (:mod:`medsynth.imageset.resize`); a model card's ``resize_policy`` goes here.
    window : str
        DICOM folders only: ``"from-file"``, ``"full"``, a preset name or ``"C,W"``.
    skip_unreadable : bool
        Leave out image files that cannot be read, listing them in ``skipped``; else the first is an error.
    cache : callable, optional
        Keeps the decoded arrays of files between runs (see :data:`medsynth.imageset.files.ArrayCache`).
    progress : callable, optional
        Called with a one-line message about skipped files.
    max_pixels : int
        Refuse an image file of more pixels than this before decoding it (Pillow's bomb limit by default).
    max_npz_bytes : int
        Refuse an ``.npz`` whose arrays would take more bytes than this, checked from its headers before
        anything is decompressed.

    Returns
    -------
    ImageSet
        The images and labels.

    Raises
    ------
    DataError
        If the path does not exist or is in no known layout, holds no images, or a file cannot be read; a
        split the layout does not have; an image or archive above the limits; a CSV path outside the CSV's
        folder; a CSV that is not UTF-8; an unknown resize policy.
    """
    check_resize_policy(resize_policy)
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    layout = detect_layout(path, max_npz_bytes=max_npz_bytes)
    p = layout.path
    if layout.kind in ("npz", "medmnist"):
        return read_npz(
            p, size=size, channels=channels, split=split, max_per_class=max_per_class, max_bytes=max_npz_bytes
        )
    listing: Listing
    if layout.kind in ("csv", "generate-output", "isic-folder"):
        listing = list_csv(layout.source, split)
    else:
        if split is not None:
            raise DataError(
                f"{p} is {_article(layout.kind)}, which has no splits; cannot select split {split!r}"
            )
        if layout.kind == "dicom-folders":
            if size is None or max_per_class is not None:
                raise DataError(f"{p}: DICOM folders are read at a given size, whole; pass a size")
            return read_dicom_classes(p, size, window, channels=channels, cache=cache, progress=progress)
        listing = list_class_folders(p) if layout.kind == "class-folders" else list_flat_folder(p)
    return read_listing(
        listing,
        size=size,
        channels=channels,
        max_per_class=max_per_class,
        min_per_class=min_per_class,
        skip_unreadable=skip_unreadable,
        max_pixels=max_pixels,
        cache=cache,
        progress=progress,
    )


def _article(kind: str) -> str:
    return {
        "class-folders": "a tree of class folders",
        "dicom-folders": "a tree of class folders of DICOM files",
    }.get(kind, "a flat folder of images")
