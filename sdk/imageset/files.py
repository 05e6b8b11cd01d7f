"""Image files to arrays: one bounded reader, the resize policy, and a listing read into an ImageSet."""

from __future__ import annotations

import struct
import sys
import threading
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsynth.errors import DataError
from medsynth.imageset.image_set import ImageSet, check_class_counts
from medsynth.imageset.resize import RESIZE_POLICY, fit_image

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "Listing", "ArrayCache", "read_image", "read_listing"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MAX_PIXELS = 89_478_485  # Pillow's default decompression-bomb limit (Image.MAX_IMAGE_PIXELS), per image
_PILLOW_LIMIT = threading.Lock()  # guards the temporary change of Pillow's global limit
_GREY_MODES = ("L", "I", "I;16", "1")

# A cache of preprocessed arrays: (description, input files, build) -> arrays. ``description`` is a
# JSON-serialisable value that, with the files' stamps, determines the arrays; ``build`` makes them when the
# cache has no entry (medsynth.training.data.cache.cached_arrays is one).
ArrayCache = Callable[[list[object], list[Path], Callable[[], dict[str, np.ndarray]]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Listing:
    """The image files of a data set, before any is read."""

    rows: list[tuple[str, str, Path]]  # (image id, class name, file)
    classes: tuple[str, ...]  # label order
    name: str  # for messages and the model card
    license: str = ""
    modality: str = ""


def read_image(
    path: Path, size: tuple[int, int] | None, channels: int | None, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Read one image file as uint8 (H, W, C), resized by the resize policy.

    Parameters
    ----------
    path
        The file.
    size
        (height, width) to bring it to (:func:`medsynth.imageset.resize.fit_image`); None keeps its own.
    channels
        1 (grey) or 3 (RGB); None: grey files as grey, others as RGB.
    max_pixels
        Refuse a file of more pixels than this, from its header, before decoding it.

    Raises
    ------
    DataError
        The file is missing, damaged, not an image, or above ``max_pixels``.
    """
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
                mode = {1: "L", 3: "RGB"}.get(channels or 0, "L" if img.mode in _GREY_MODES else "RGB")
                converted = img.convert(mode)
                if size is not None:
                    converted = fit_image(converted, *size)
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


def read_listing(
    listing: Listing,
    *,
    size: int | None,
    channels: int | None,
    max_per_class: int | None = None,
    min_per_class: int = 1,
    skip_unreadable: bool = False,
    max_pixels: int = MAX_PIXELS,
    cache: ArrayCache | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImageSet:
    """Read the files of ``listing`` into one :class:`ImageSet`.

    Parameters
    ----------
    listing
        The files.
    size
        Side of the square images; None brings every image to the first one's height and width.
    channels
        1 or 3; None follows the first image (grey files grey, others RGB).
    max_per_class
        Keep at most this many files per class (the first ones, in listing order).
    min_per_class
        1 or 2: refuse, before reading, a class with fewer files (see
        :func:`medsynth.imageset.image_set.check_class_counts`).
    skip_unreadable
        Leave out files that cannot be read, listed in ``skipped`` (and one ``progress`` message); else the
        first such file is a DataError.
    max_pixels
        As for :func:`read_image`.
    cache
        Where the arrays are kept between runs (see :data:`ArrayCache`); None reads every time.
    progress
        Called with a one-line message about skipped files.

    Raises
    ------
    DataError
        No files, a class with too few files, an unreadable file (unless skipped), or no readable file.
    """
    rows = listing.rows
    if not rows:
        raise DataError(f"no images found in {listing.name}; expected PNG or JPEG files")
    counts = {c: 0 for c in listing.classes}
    for _, c, _ in rows:
        counts[c] += 1
    check_class_counts(counts, listing.name, min_per_class)  # before reading anything
    if max_per_class is not None:
        seen: dict[str, int] = {}
        kept = []
        for row in rows:
            if seen.get(row[1], 0) < max_per_class:
                kept.append(row)
                seen[row[1]] = seen.get(row[1], 0) + 1
        rows = kept

    def build() -> dict[str, np.ndarray]:
        return _read_rows(rows, listing, size, channels, skip_unreadable, max_pixels)

    if cache is None:
        arrays = build()
    else:
        description: list[object] = [
            "files",
            RESIZE_POLICY,
            size,
            channels,
            listing.name,
            list(listing.classes),
            [[i, c] for i, c, _ in rows],
        ]
        arrays = cache(description, [p for _, _, p in rows], build)
    skipped = tuple((str(i), str(r)) for i, r in arrays["skipped"].tolist())
    if skipped and progress:
        progress(
            f"skipped {len(skipped)} unreadable image(s) of {len(rows)} in {listing.name}; "
            f"first: {skipped[0][0]}: {skipped[0][1]}"
        )
    return ImageSet(
        images=arrays["images"],
        labels=arrays["labels"],
        classes=listing.classes,
        ids=tuple(str(i) for i in arrays["ids"].tolist()),
        name=listing.name,
        license=listing.license,
        skipped=skipped,
        modality=listing.modality,
    )


def _read_rows(
    rows: list[tuple[str, str, Path]],
    listing: Listing,
    size: int | None,
    channels: int | None,
    skip_unreadable: bool,
    max_pixels: int,
) -> dict[str, np.ndarray]:
    index = {c: i for i, c in enumerate(listing.classes)}
    target = (size, size) if size else None
    images: list[np.ndarray] = []
    labels, ids, skipped = [], [], []
    iterator: object = rows
    if skip_unreadable:  # the training path: large sets, a progress bar on stderr
        try:
            from tqdm import tqdm

            iterator = tqdm(rows, desc=f"reading {listing.name}", unit="img", file=sys.stderr, leave=False)
        except ImportError:
            pass
    for image_id, cls, path in iterator:  # type: ignore[attr-defined]
        try:
            image = read_image(path, target, channels, max_pixels)
        except DataError as exc:
            if not skip_unreadable:
                raise
            skipped.append((image_id, str(exc)))
            continue
        if not images:  # the first image fixes the size and channels of the set
            target, channels = image.shape[:2], image.shape[2]
        images.append(image)
        labels.append(index[cls])
        ids.append(image_id)
    if not images:
        raise DataError(
            f"no readable images in {listing.name}: {len(skipped)} skipped, first: "
            f"{skipped[0][0]}: {skipped[0][1]}"
        )
    return {
        "images": np.stack(images),
        "labels": np.asarray(labels, dtype=np.int64),
        "ids": np.asarray(ids),
        "skipped": np.asarray(skipped, dtype=str).reshape(-1, 2),
    }
