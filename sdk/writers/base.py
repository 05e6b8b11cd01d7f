"""The two kinds of output writer and what they are given.

* A :class:`FileWriter` writes one image per file (PNG, DICOM): it turns one image and its :class:`ImageMeta`
  into the file's bytes (:meth:`FileWriter.encode`); :meth:`FileWriter.write` stores them atomically, alone or
  as part of a batch published together (:func:`medsynth.writers._atomic.atomic_batch`). A new
  per-image format subclasses it, sets :attr:`FileWriter.suffix` and implements ``encode`` — nothing else.
* A :class:`ContainerWriter` writes a whole run into one file (NPZ): it is given every image's meta up
  front and the images as a stream of batches, so a run of any size never sits in memory, and commits the
  file atomically at the end.

Writers are created with no arguments (``PngWriter()``) by :func:`medsynth.writers.formats.load_writer`,
which maps each ``--format`` name to a module and class. Images are ``uint8`` arrays of shape ``(H, W, C)``
(``C`` is the model card's ``channels``); batches are ``(B, H, W, C)``. Encoding must be deterministic: the
same image and meta give the same bytes, so a re-run is byte-identical. No imaging library is imported here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from medsynth.model_card import ModelCard
from medsynth.writers._atomic import AtomicBatch, atomic_write_bytes

__all__ = ["ImageMeta", "FileWriter", "ContainerWriter", "check_image"]


@dataclass(frozen=True)
class ImageMeta:
    """Everything a writer may record about one synthetic image."""

    card: ModelCard  # the model that made it
    class_name: str  # card.classes[class_index]
    class_index: int  # the label value fed to the model
    seed: int  # the run seed
    index: int  # the image's index within its class under this seed: (model, seed, class, index) -> pixels
    model_sha256: str  # sha256 of the model file, hex


def check_image(image: np.ndarray, card: ModelCard) -> None:
    """Refuse an image that is not ``uint8 (H, W, C)`` with the card's size and channels.

    Parameters
    ----------
    image
        The image to write.
    card
        The model card it claims to come from.

    Raises
    ------
    ValueError
        Wrong dtype or shape (a programming error of the caller, not bad user input).
    """
    want = (card.image_size, card.image_size, card.channels)
    if image.dtype != np.uint8 or image.shape != want:
        raise ValueError(f"writers take uint8 images of shape {want}, got {image.dtype} {image.shape}")


class FileWriter(ABC):
    """Writes one image per file, atomically."""

    format_name: ClassVar[str]  # the --format name, e.g. "png"
    suffix: ClassVar[str]  # the file suffix with its dot, e.g. ".png"

    @abstractmethod
    def encode(self, image: np.ndarray, meta: ImageMeta) -> bytes:
        """Return the complete file for one image.

        Parameters
        ----------
        image
            ``uint8`` array ``(H, W, C)``.
        meta
            What the image is (model, class, seed, index).

        Returns
        -------
        bytes
            The file's content; the same for the same image and meta.
        """

    def write(
        self, path: Path, image: np.ndarray, meta: ImageMeta, *, batch: AtomicBatch | None = None
    ) -> bytes:
        """Encode ``image`` and store it at ``path`` atomically (temp file in the same folder, then replace).

        Parameters
        ----------
        path
            The destination; its folder must exist.
        image
            ``uint8`` array ``(H, W, C)``.
        meta
            What the image is.
        batch
            If given, the file is staged in it and appears at ``path`` only when the batch commits (one
            folder fsync for the whole batch); else it is published now (:func:`atomic_write_bytes`).

        Returns
        -------
        bytes
            The content written (for the manifest's size and sha256).

        Raises
        ------
        OSError
            The folder is not writable.
        """
        check_image(image, meta.card)
        data = self.encode(image, meta)
        if batch is None:
            atomic_write_bytes(path, data)
        else:
            batch.write_bytes(path, data)
        return data


class ContainerWriter(ABC):
    """Writes all the images of a run into one file, atomically."""

    format_name: ClassVar[str]  # the --format name, e.g. "npz"
    suffix: ClassVar[str]  # the file suffix with its dot, e.g. ".npz"

    @abstractmethod
    def write_all(self, path: Path, metas: Sequence[ImageMeta], batches: Iterable[np.ndarray]) -> None:
        """Write every image of a run to ``path``.

        Parameters
        ----------
        path
            The destination; its folder must exist. Nothing appears there unless every image was written.
        metas
            One meta per image, in file order.
        batches
            ``uint8`` arrays ``(B, H, W, C)`` whose rows, concatenated, follow ``metas``; consumed once,
            lazily.

        Raises
        ------
        OSError
            The folder is not writable.
        ValueError
            The batches hold more or fewer images than ``metas``.
        """
