"""An in-memory labeled image set: the one form every data source is turned into before training."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from medsynth.errors import DataError


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 (N, H, W, C) with int64 labels indexing ``classes``.

    ``ids`` are the images' identifiers (file stems, never full paths); ``skipped`` lists (id, reason) for
    inputs that could not be read; ``name``, ``license`` and ``modality`` (the DICOM modality of the source
    images, e.g. "XC" for dermoscopy, "CT"; "" when unknown) describe the data set for the model card.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    ids: tuple[str, ...]
    name: str = ""
    license: str = ""
    skipped: tuple[tuple[str, str], ...] = field(default=())
    modality: str = ""

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise DataError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}")
        if len(self.labels) != len(self.images) or len(self.ids) != len(self.images):
            raise DataError("images, labels and ids must have the same length")
        check_class_counts(self.counts(), self.name)

    def counts(self) -> dict[str, int]:
        """Images per class, in class order."""
        per = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(per[i]) for i, name in enumerate(self.classes)}

    def manifest_sha256(self) -> str:
        """sha256 of the sorted ``id,class`` lines: identifies the training set without naming any path."""
        lines = sorted(f"{i},{self.classes[c]}" for i, c in zip(self.ids, self.labels, strict=True))
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def check_class_counts(counts: dict[str, int], name: str) -> None:
    """DataError for a class with no image or a single one (checked before and after reading files).

    Parameters
    ----------
    counts
        Images per class name.
    name
        The data set, for the message.
    """
    for cls, count in counts.items():
        if count == 0:
            raise DataError(
                f"class {cls!r} has no images in {name or 'the data set'}; "
                "remove the class or add images to it"
            )
        if count == 1:
            raise DataError(
                f"class {cls!r} has a single image in {name or 'the data set'}; "
                "a GAN needs at least two images per class"
            )
