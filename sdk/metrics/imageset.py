"""Labelled image sets for evaluation, from the layouts medsynth meets: folders, ISIC CSVs, generate output,
NPZ."""

from __future__ import annotations

import csv
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from medsynth._npz_limits import MAX_NPZ_BYTES, load_npz
from medsynth.errors import DataError
from medsynth.isic import ISIC2017_CLASSES, is_isic_ground_truth, isic_class

__all__ = ["ImageSet", "load_image_set", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
UNLABELLED = "all"  # the class of images in a flat folder
MAX_PIXELS = 89_478_485  # Pillow's default decompression-bomb limit (Image.MAX_IMAGE_PIXELS), per image
_PILLOW_LIMIT = threading.Lock()  # guards the temporary change of Pillow's global limit


@dataclass(frozen=True)
class ImageSet:
    """Images of one size with class labels."""

    images: np.ndarray  # uint8 (N, H, W, C), C in (1, 3)
    labels: np.ndarray  # int64 (N,), index into classes
    classes: tuple[str, ...]  # class names, label order
    source: str  # where the set came from, for messages and the report

    def of_class(self, name: str) -> np.ndarray:
        """The images of class ``name`` (empty if the set has none)."""
        if name not in self.classes:
            return self.images[:0]
        return self.images[self.labels == self.classes.index(name)]

    def counts(self) -> dict[str, int]:
        """Number of images per class name."""
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.classes)}


def _read_image(
    path: Path, size: tuple[int, int] | None, channels: int | None, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    with _PILLOW_LIMIT, warnings.catch_warnings():
        # Our own check below refuses an image above max_pixels right after its header is read, before it
        # is decoded; Pillow's own limit is lifted meanwhile so that raising max_pixels works.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(path) as img:
                pixels = img.size[0] * img.size[1]
                if pixels > max_pixels:
                    raise DataError(
                        f"image {path} has {img.size[0]}x{img.size[1]} = {pixels} pixels, above "
                        f"the limit of {max_pixels} (a decompression bomb?); raise it with "
                        "--max-pixels if the image is real"
                    )
                mode = {1: "L", 3: "RGB"}.get(
                    channels or 0, "L" if img.mode in ("L", "I", "I;16", "1") else "RGB"
                )
                converted = img.convert(mode)
                if size is not None and converted.size != (size[1], size[0]):
                    converted = converted.resize((size[1], size[0]), Image.Resampling.LANCZOS)
                a = np.asarray(converted, dtype=np.uint8)
        except DataError:
            raise
        except (
            OSError,
            UnidentifiedImageError,
            Image.DecompressionBombError,
            ValueError,
            SyntaxError,
            EOFError,
            TypeError,
            IndexError,
            struct.error,
            zlib.error,
        ) as exc:
            # Pillow reports damaged files with any of these (SyntaxError: "broken PNG file").
            raise DataError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    return a[..., None] if a.ndim == 2 else a


def _from_files(
    files: list[tuple[Path, str]],
    source: str,
    size: int | None,
    channels: int | None,
    max_per_class: int | None,
    max_pixels: int = MAX_PIXELS,
) -> ImageSet:
    if not files:
        raise DataError(f"no images found in {source}; expected PNG or JPEG files")
    classes: list[str] = []
    for _, cls in files:
        if cls not in classes:
            classes.append(cls)
    if max_per_class is not None:
        kept: list[tuple[Path, str]] = []
        seen: dict[str, int] = {}
        for f, cls in files:
            if seen.get(cls, 0) < max_per_class:
                kept.append((f, cls))
                seen[cls] = seen.get(cls, 0) + 1
        files = kept
    first = _read_image(files[0][0], (size, size) if size else None, channels, max_pixels)
    target = first.shape[:2]
    images = np.empty((len(files),) + first.shape, dtype=np.uint8)
    for i, (f, _) in enumerate(files):
        images[i] = first if i == 0 else _read_image(f, target, first.shape[2], max_pixels)
    labels = np.array([classes.index(cls) for _, cls in files], dtype=np.int64)
    return ImageSet(images, labels, tuple(classes), source)


def _resolve_isic_image(folder: Path, image_id: str) -> Path:
    for base in (folder / "images", folder):
        for suffix in (".jpg", ".png", ".jpeg"):
            candidate = base / f"{image_id}{suffix}"
            if candidate.is_file():
                return candidate
    raise DataError(f"image {image_id} listed in the CSV was not found in {folder}/images or {folder}")


def _listed(path: Path, value: str, line: int) -> Path:
    """A ``path`` cell of a CSV: relative, and inside the CSV's folder (links resolved)."""
    base = path.parent.resolve()
    bad = (
        not value
        or "\0" in value
        or PurePosixPath(value).is_absolute()
        or PureWindowsPath(value).is_absolute()
        or bool(PureWindowsPath(value).drive)
    )
    if bad or not (base / value).resolve().is_relative_to(base):
        raise DataError(
            f"{path}, line {line}: path {value[:200]!r} lies outside {path.parent}; the files a "
            "CSV lists must be relative paths inside its folder"
        )
    return path.parent / value


def _from_csv(path: Path, split: str | None) -> list[tuple[Path, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)"
        ) from exc
    except (OSError, csv.Error) as exc:
        raise DataError(f"cannot read {path} as a CSV file: {exc}") from exc
    if not rows:
        raise DataError(f"{path} has no rows")
    cols = set(rows[0])
    if split is not None and "split" not in cols:
        raise DataError(f"{path} has no 'split' column, so split={split!r} cannot be applied")
    if split is not None:
        rows = [r for r in rows if r["split"] == split]
        if not rows:
            raise DataError(f"{path} has no rows with split {split!r}")
    if {"path", "diagnosis"} <= cols:
        return [(_listed(path, r["path"], n), r["diagnosis"]) for n, r in enumerate(rows, start=2)]
    if is_isic_ground_truth(cols):
        out = []
        for n, r in enumerate(rows, start=2):
            cls = isic_class(r, f"{path}, line {n}")  # the one ISIC label rule, shared with training
            image_id = _listed(path, r["image_id"], n).name
            out.append((_resolve_isic_image(path.parent, image_id), cls))
        return sorted(out, key=lambda fc: ISIC2017_CLASSES.index(fc[1]))
    if {"path", "class"} <= cols:
        return [(_listed(path, r["path"], n), r["class"]) for n, r in enumerate(rows, start=2)]
    raise DataError(
        f"{path}: unknown CSV layout; expected columns (path, diagnosis[, split]), "
        "(image_id, melanoma, seborrheic_keratosis) or (path, class)"
    )


def _from_folder(folder: Path) -> list[tuple[Path, str]]:
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        return _from_csv(manifest, None)
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = []
    for d in subdirs:
        files += [(f, d.name) for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if files:
        return files
    return [(f, UNLABELLED) for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]


def _from_npz(
    path: Path, size: int | None, max_per_class: int | None, max_bytes: int = MAX_NPZ_BYTES
) -> ImageSet:
    from PIL import Image

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
    if max_per_class is not None:
        keep = np.concatenate([np.flatnonzero(labels == i)[:max_per_class] for i in range(len(classes))])
        keep.sort()
        images, labels = images[keep], labels[keep]
    if size is not None and images.shape[1:3] != (size, size):
        resized = [
            np.asarray(
                Image.fromarray(im[..., 0] if im.shape[2] == 1 else im).resize(
                    (size, size), Image.Resampling.LANCZOS
                )
            )
            for im in images
        ]
        images = np.stack([r if r.ndim == 3 else r[..., None] for r in resized])
    return ImageSet(np.ascontiguousarray(images), labels, classes, str(path))


def load_image_set(
    path: str | Path,
    *,
    size: int | None = None,
    channels: int | None = None,
    split: str | None = None,
    max_per_class: int | None = None,
    max_pixels: int = MAX_PIXELS,
    max_npz_bytes: int = MAX_NPZ_BYTES,
) -> ImageSet:
    """Load a labelled image set.

    Parameters
    ----------
    path : str or pathlib.Path
        One of: a folder with ``manifest.csv`` (what ``medsynth generate`` writes: ``<class>/<name>.png``); a
        class-per-folder tree; a flat folder of images (one class, ``"all"``); an ``.npz`` with ``images``
        (uint8 (N, H, W[, C])), ``labels`` and ``class_names`` (or ``classes``); an ISIC CSV, either
        ``labels.csv`` (image_id, split, diagnosis, path) or the official ``ISIC-2017_GroundTruth_*.csv``
        (image_id, melanoma, seborrheic_keratosis; images in ``images/`` beside it or beside the CSV).
    size : int, optional
        Resize every image to ``size`` x ``size`` (Lanczos); by default all images take the first one's size.
    channels : int, optional
        1 (grey) or 3 (RGB); by default grey files load as grey and others as RGB, and the set follows its
        first image.
    split : str, optional
        Keep only the CSV rows of this ``split`` (e.g. ``train`` or ``val`` in ISIC's labels.csv).
    max_per_class : int, optional
        Keep at most this many images per class (the first ones, in file order).
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
        If the path does not exist, holds no images, or a file cannot be read; an image or archive above
        the limits; a CSV path outside the CSV's folder; a CSV that is not UTF-8.
    """
    p = Path(path)
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    if split is not None and p.suffix.lower() != ".csv":
        raise DataError(f"split={split!r} applies to CSV files only, not {p}")
    if p.is_file() and p.suffix.lower() == ".npz":
        s = _from_npz(p, size, max_per_class, max_npz_bytes)
        if channels is not None and s.images.shape[3] != channels:
            imgs = (
                np.repeat(s.images, 3, axis=3)
                if channels == 3
                else np.round(s.images @ np.array([0.299, 0.587, 0.114]))[..., None].astype(np.uint8)
            )
            s = ImageSet(imgs, s.labels, s.classes, s.source)
        return s
    if p.is_file() and p.suffix.lower() == ".csv":
        return _from_files(_from_csv(p, split), str(p), size, channels, max_per_class, max_pixels)
    if p.is_dir():
        return _from_files(_from_folder(p), str(p), size, channels, max_per_class, max_pixels)
    raise DataError(f"{p} is not a folder, an .npz or a .csv file; pass an image set in one of those forms")
