"""An in-memory labelled image set: the one form every data source becomes, for training and evaluation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from medsynth.errors import DataError

__all__ = ["ImageSet", "check_class_counts"]


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 (N, H, W, C) with int64 labels indexing ``classes``.

    ``ids`` are the images' identifiers (image ids, ``class/stem`` or paths relative to the data set, never
    full paths; ``"0"``, ``"1"``, ... when not given); ``skipped`` lists (id, reason) for inputs that could
    not be read; ``name``, ``license`` and ``modality`` (the DICOM modality of the source images, e.g. "XC"
    for dermoscopy, "CT"; "" when unknown) describe the data set for messages, the report and the model card.
    """

    images: np.ndarray  # uint8 (N, H, W, C), C in (1, 3)
    labels: np.ndarray  # int64 (N,), index into classes
    classes: tuple[str, ...]  # class names, label order
    ids: tuple[str, ...] = ()  # one per image
    name: str = ""  # where the set came from
    license: str = ""  # the data set's licence
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (id, reason) of unreadable inputs
    modality: str = ""  # DICOM modality of the source images

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise DataError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}")
        if not self.ids:
            object.__setattr__(self, "ids", tuple(str(i) for i in range(len(self.images))))
        if len(self.labels) != len(self.images) or len(self.ids) != len(self.images):
            raise DataError("images, labels and ids must have the same length")

    def counts(self) -> dict[str, int]:
        """Images per class, in class order."""
        per = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(per[i]) for i, name in enumerate(self.classes)}

    def of_class(self, name: str) -> np.ndarray:
        """The images of class ``name`` (empty if the set has none)."""
        if name not in self.classes:
            return self.images[:0]
        selected: np.ndarray = self.images[self.labels == self.classes.index(name)]
        return selected

    def manifest_sha256(self) -> str:
        """sha256 of the sorted ``id,class`` lines: identifies the set without naming any path."""
        lines = sorted(f"{i},{self.classes[c]}" for i, c in zip(self.ids, self.labels, strict=True))
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def check_class_counts(counts: dict[str, int], name: str, minimum: int = 2) -> None:
    """DataError for a class with no image or, when ``minimum`` is 2, a single one (what a GAN cannot
    train on).

    Parameters
    ----------
    counts
        Images per class name.
    name
        The data set, for the message.
    minimum
        1 or 2: the fewest images a class may have.
    """
    for cls, count in counts.items():
        if count == 0:
            raise DataError(
                f"class {cls!r} has no images in {name or 'the data set'}; "
                "remove the class or add images to it"
            )
        if count < minimum:
            raise DataError(
                f"class {cls!r} has a single image in {name or 'the data set'}; "
                "a GAN needs at least two images per class"
            )
