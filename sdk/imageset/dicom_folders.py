"""A class-per-folder tree of DICOM files, ``root/<class name>/**/<files>``, windowed by the SDK.

Every file below a class folder is read with :func:`medsynth.dicom.load_folder` (its safe reader, modality and
VOI LUTs by the standard, MONOCHROME1 inversion), each frame becoming one image brought to the size by the
resize policy (:mod:`medsynth.imageset.resize`). Files that cannot be read, decoded or windowed are skipped
and reported with the reason; a class with no loadable image is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from medsynth.errors import DataError
from medsynth.imageset.files import ArrayCache
from medsynth.imageset.folders import class_folders
from medsynth.imageset.image_set import ImageSet
from medsynth.imageset.resize import RESIZE_POLICY, fit_array, to_channels

__all__ = ["looks_like_dicom", "read_dicom_classes"]


def looks_like_dicom(root: Path) -> bool:
    """True when the first file of the first non-empty class folder is DICOM (by preamble or suffix)."""
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(class_dir.iterdir())[:3]:
            if f.is_file():
                with f.open("rb") as fh:
                    head = fh.read(132)
                preamble = len(head) == 132 and head[128:132] == b"DICM"
                return preamble or f.suffix.lower() in (".dcm", ".dicom")
    return False


def read_dicom_classes(
    path: str | Path,
    size: int,
    window: str = "from-file",
    *,
    channels: int | None = None,
    cache: ArrayCache | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImageSet:
    """Read a tree of class folders of DICOM files into an :class:`ImageSet`.

    Parameters
    ----------
    path
        The root; each sub-folder is a class, named by the folder.
    size
        Side of the square output images.
    window
        ``"from-file"`` (each file's own VOI LUT or window), ``"full"``, a preset name (``"lung"``) or
        ``"C,W"``; see :func:`medsynth.dicom.parse_window`.
    channels
        1 or 3 to convert to; None keeps the files' own (grayscale unless every class is RGB).
    cache
        Where the arrays are kept between runs (see :data:`medsynth.imageset.files.ArrayCache`).
    progress
        Called with a one-line message when files were skipped.

    Returns
    -------
    ImageSet
        uint8 images (N, size, size, C); ``ids`` are paths relative to the root (``#k`` for frame k of a
        multi-frame file); ``modality`` is the files' Modality when they all agree, else "OT".

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

    def build() -> dict[str, np.ndarray]:
        return _read(root, classes, size, window, channels)

    if cache is None:
        arrays = build()
    else:
        description = ["dicom", RESIZE_POLICY, size, channels, window, list(classes)]
        arrays = cache(description, [f for c in classes for f in files[c]], build)
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
    root: Path, classes: tuple[str, ...], size: int, window: str, channels: int | None
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
            images, paths, bad = load_folder(folder, window, size, resize=fit_array)
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
