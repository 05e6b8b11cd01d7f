"""A class-per-folder tree of DICOM files: ``root/<class name>/**/<files>``, windowed by the SDK.

Every file below a class folder is read with :func:`medsynth.dicom.load_folder` (its safe reader, modality and
VOI LUTs by the standard, MONOCHROME1 inversion, pad to square and resample), each frame becoming one image.
Files that cannot be read, decoded or windowed are skipped and reported with the reason; a class with no
loadable image is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from medsynth.errors import DataError
from medsynth.training.data.cache import cached_arrays, file_stamp
from medsynth.training.data.folders import class_folders
from medsynth.training.data.image_set import ImageSet
from medsynth.training.data.resize import to_channels


def read_dicom_classes(
    path: str | Path,
    image_size: int,
    window: str = "from-file",
    *,
    channels: int = 0,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImageSet:
    """Read a tree of class folders of DICOM files into an :class:`ImageSet` (cached after the first read).

    Parameters
    ----------
    path
        The root; each sub-folder is a class, named by the folder.
    image_size
        Side of the square output images (each frame is padded to a square, then resampled).
    window
        ``"from-file"`` (each file's own VOI LUT or window), ``"full"``, a preset name (``"lung"``) or
        ``"C,W"``; see :func:`medsynth.dicom.parse_window`.
    channels
        1 or 3 to convert to; 0 keeps the files' own (grayscale unless every class is RGB).
    cache_dir
        Where the preprocessed arrays are kept (see :mod:`medsynth.training.data.cache`).
    progress
        Called with a one-line message when files were skipped.

    Returns
    -------
    ImageSet
        uint8 images (N, image_size, image_size, C); ``ids`` are paths relative to the root (``#k`` for
        frame k of a multi-frame file); ``modality`` is the files' Modality when they all agree, else "OT".

    Raises
    ------
    DataError
        An invalid window, no class folders, or a class folder without a loadable image (the message gives
        the first reasons).
    """
    from medsynth.dicom import list_files, parse_window

    root = Path(path)
    window = window or "from-file"
    parse_window(window)  # refuse a bad window before reading anything
    classes = tuple(class_folders(root))
    if not classes:
        raise DataError(
            f"{root} has no class folders; put each class's DICOM files in a folder named after the class"
        )
    files = {c: list_files(root / c) for c in classes}
    description = [
        "dicom",
        image_size,
        channels,
        window,
        classes,
        [(c, *file_stamp(f)) for c in classes for f in files[c]],
    ]
    arrays = cached_arrays(description, cache_dir, lambda: _read(root, classes, image_size, window, channels))
    skipped = tuple((str(i), str(r)) for i, r in arrays["skipped"].tolist())
    if skipped and progress:
        total = sum(len(f) for f in files.values())
        progress(
            f"skipped {len(skipped)} unusable DICOM file(s) of {total} in {root}; "
            f"first: {skipped[0][0]}: {skipped[0][1]}"
        )
    return ImageSet(
        images=arrays["images"],
        labels=arrays["labels"],
        classes=classes,
        ids=tuple(str(i) for i in arrays["ids"].tolist()),
        name=f"DICOM class folders ({root.name}, window {window})",
        license="",
        skipped=skipped,
        modality=str(arrays["modality"]),
    )


def _read(
    root: Path, classes: tuple[str, ...], size: int, window: str, channels: int
) -> dict[str, np.ndarray]:
    from medsynth.dicom import load_folder, read

    per_class: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    ids: list[str] = []
    skipped: list[tuple[str, str]] = []
    modalities: set[str] = set()
    for index, cls in enumerate(classes):
        folder = root / cls
        try:
            images, paths, bad = load_folder(folder, window, size)
        except DataError as exc:
            raise DataError(f"class {cls!r} has no usable DICOM image: {exc}") from exc
        if images.ndim == 3:
            images = images[..., None]
        per_class.append(images)
        labels.append(np.full(len(images), index, dtype=np.int64))
        frames: dict[Path, int] = {}
        for p in paths:
            frame = frames[p] = frames.get(p, -1) + 1
            ids.append(f"{cls}/{p.relative_to(folder).as_posix()}" + (f"#{frame}" if frame else ""))
        skipped.extend((f"{cls}/{p.relative_to(folder).as_posix()}", reason) for p, reason in bad)
        modalities.add(str(getattr(read(paths[0]), "Modality", "") or "OT").upper())
    target = channels or (3 if all(im.shape[-1] == 3 for im in per_class) else 1)
    images = np.concatenate([to_channels(im, target) for im in per_class])
    return {
        "images": images,
        "labels": np.concatenate(labels),
        "ids": np.asarray(ids),
        "skipped": np.asarray(skipped, dtype=str).reshape(-1, 2),
        "modality": np.asarray(modalities.pop() if len(modalities) == 1 else "OT"),
    }
