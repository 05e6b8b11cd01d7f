"""Training's view of :func:`medsynth.imageset.load_image_set`: its split names and defaults, the cache, and
the GAN's rule of at least two images per class."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from medsynth import imageset
from medsynth.errors import DataError
from medsynth.imageset import ImageSet, check_class_counts, detect_layout
from medsynth.training.data.cache import cached_arrays

WHOLE_SET_SPLITS = ("", "all")  # the splits that read every split of a data set
PHOTO_LAYOUTS = ("csv", "isic-folder", "class-folders", "generate-output")  # read as RGB unless told


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
        Side of the square output images (the resize policy, :mod:`medsynth.imageset.resize`).
    channels
        1 or 3; 0 keeps the data set's own (RGB for photographs, 1 for MedMNIST grayscale, the files' own for
        DICOM).
    split
        Split to read where the data set has splits; "all" reads every split. A data set without splits
        (class folders, the official ISIC ground truth) is read whole for "train" or "all".
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
    layout = detect_layout(data)
    if layout.kind == "flat-folder":
        raise DataError(
            f"{layout.path} is not a data set medsynth can read: expected an ISIC folder or CSV, a folder "
            "of class sub-folders of images or DICOM files, or a MedMNIST .npz"
        )
    whole = split in WHOLE_SET_SPLITS or (split == "train" and not layout.has_splits)
    images = imageset.load_image_set(
        layout.path,
        size=image_size,
        channels=channels or (3 if layout.kind in PHOTO_LAYOUTS else None),
        split=None if whole else split,
        min_per_class=2,
        window=window or "from-file",
        skip_unreadable=True,
        cache=functools.partial(cached_arrays, cache_dir=cache_dir),
        progress=progress,
    )
    check_class_counts(images.counts(), images.name)  # again: skipped files may have left too few
    return images
