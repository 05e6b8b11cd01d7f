"""DICOM folders: which files to read, and reading them all into one training array.

A folder with a ``DICOMDIR`` is read through it (its references checked, see :mod:`medsynth.dicom.dicomdir`);
any other folder is walked recursively in sorted order (symbolic links to folders are not followed; hidden
files are ignored). Files that cannot be used are skipped with the reason, never silently: both
``medsynth convert`` and :func:`load_folder` report them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsynth.dicom.dicomdir import dicomdir_files
from medsynth.dicom.image import display
from medsynth.dicom.presets import WindowSpec, parse_window
from medsynth.dicom.reader import DEFAULT_LIMITS, Limits, read
from medsynth.dicom.resize import to_square
from medsynth.errors import DataError, DicomError

__all__ = ["list_files", "FileImages", "iter_images", "load_folder"]


def list_files(folder: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> list[Path]:
    """The candidate DICOM files of ``folder``: its DICOMDIR's references, or every file below it.

    Parameters
    ----------
    folder
        The folder.
    limits
        Size bounds for reading a DICOMDIR.

    Returns
    -------
    list of pathlib.Path
        Paths under ``folder`` (as given, not resolved), in DICOMDIR record order or sorted walk order.

    Raises
    ------
    DataError
        ``folder`` is not a folder.
    DicomError
        Its DICOMDIR cannot be read or references files outside the folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    if (folder / "DICOMDIR").is_file():
        return dicomdir_files(folder / "DICOMDIR", limits=limits)
    files: list[Path] = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(top) / name for name in sorted(names) if not name.startswith("."))
    return files


@dataclass(frozen=True)
class FileImages:
    """The outcome for one file: its frames, or why it was skipped."""

    path: Path  # the file
    frames: np.ndarray | None  # uint8 (frames, H, W) or (frames, H, W, 3); None when skipped
    reason: str = ""  # why it was skipped (the DicomError message); "" when read


def iter_images(
    folder: str | Path,
    window: WindowSpec,
    size: int | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    files: list[Path] | None = None,
    resize: Callable[[np.ndarray, int], np.ndarray] = to_square,
) -> Iterator[FileImages]:
    """Read every file of ``folder`` to ``uint8`` display frames, one :class:`FileImages` per file.

    Parameters
    ----------
    folder
        The folder (see :func:`list_files`).
    window
        As for :func:`medsynth.dicom.load`; parsed once, before any file is read.
    size
        Pad each frame to a square and resample it to ``size`` x ``size``; ``None`` keeps the native size.
    limits
        Size bounds for every file.
    files
        The files to read, if already listed with :func:`list_files`.
    resize
        How a frame is brought to ``size``: :func:`medsynth.dicom.resize.to_square` (pad, then bilinear) by
        default; training passes the image sets' resize policy
        (:func:`medsynth.imageset.resize.fit_array`, centre crop, then Lanczos).

    Yields
    ------
    FileImages
        In file order; a file that cannot be read, decoded or windowed is yielded with its reason.

    Raises
    ------
    DataError
        An invalid ``window`` or ``size``, or a ``folder`` that is not a folder.
    DicomError
        The folder's DICOMDIR is unreadable or references files outside it.
    """
    spec = parse_window(window)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise DataError(f"size must be a positive integer or None, got {size!r}")
    for path in files if files is not None else list_files(folder, limits=limits):
        try:
            frames = display(read(path, limits=limits), spec, "uint8", source=str(path), limits=limits)
        except DicomError as exc:
            yield FileImages(path, None, str(exc))
            continue
        if size is not None:
            frames = np.stack([resize(frame, size) for frame in frames])
        yield FileImages(path, frames)


def load_folder(
    path: str | Path,
    window: WindowSpec = "from-file",
    size: int | None = 256,
    *,
    limits: Limits = DEFAULT_LIMITS,
    resize: Callable[[np.ndarray, int], np.ndarray] = to_square,
) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
    """Load a DICOM folder into one ``uint8`` array, e.g. for a training set.

    Every frame of every file becomes one image. All images must agree in channels (the first image read
    decides: grayscale or RGB) and, when ``size`` is ``None``, in height and width; files that disagree are
    skipped like unreadable ones.

    Parameters
    ----------
    path
        The folder (a ``DICOMDIR`` in it is used; otherwise every file below it is tried).
    window
        As for :func:`medsynth.dicom.load`: ``"from-file"``, ``"full"``, a preset (``"lung"``), ``"C,W"`` or a
        ``(center, width)`` pair.
    size
        Side of the square output images (padded with black, then resampled, unless ``resize`` says
        otherwise); ``None`` keeps native sizes.
    limits
        Size bounds for every file.
    resize
        How a frame is brought to ``size`` (see :func:`iter_images`).

    Returns
    -------
    images : numpy.ndarray
        ``uint8`` ``(N, H, W)`` (grayscale) or ``(N, H, W, 3)`` (RGB).
    paths : list of pathlib.Path
        ``paths[i]`` is the file image ``i`` came from; the frames of a multi-frame file are consecutive.
    skipped : list of (pathlib.Path, str)
        Each file not used, with the reason.

    Raises
    ------
    DataError
        No image could be loaded (the message gives the first reasons), an invalid window or size, or
        ``path`` is not a folder.
    DicomError
        The folder's DICOMDIR is unreadable or references files outside the folder.
    """
    images: list[np.ndarray] = []
    paths: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for item in iter_images(path, window, size, limits=limits, resize=resize):
        if item.frames is None:
            skipped.append((item.path, item.reason))
            continue
        if images and item.frames.shape[1:] != images[0].shape[1:]:
            skipped.append(
                (
                    item.path,
                    f"{item.path}: its frames are {item.frames.shape[1:]}, the first "
                    f"image loaded is {images[0].shape[1:]} (height, width[, channels]); "
                    f"give a size to resample, and keep grayscale and colour files apart",
                )
            )
            continue
        images.append(item.frames)
        paths.extend([item.path] * len(item.frames))
    if not images:
        reasons = "; ".join(reason for _, reason in skipped[:3]) or "the folder has no files"
        raise DataError(f"no DICOM image could be loaded from {path}: {reasons}")
    return np.concatenate(images), paths, skipped
