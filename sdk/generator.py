"""``Generator``: a medsynth ONNX generator loaded for inference.

>>> from medsynth import Generator
>>> gen = Generator.load("model.onnx")                    # doctest: +SKIP
>>> images, labels = gen.generate(16, "melanoma", seed=0)  # doctest: +SKIP

Image ``i`` of class ``c`` under seed ``s`` is the same pixels whatever the batch size, the thread count or
the way the work is split (see :mod:`medsynth.seeding`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsynth._checks import MAX_BATCH_SIZE, MAX_INDEX, check_int
from medsynth._onnx_files import file_sha256, model_sha256
from medsynth._primitives import to_uint8
from medsynth._session import Session, create_session
from medsynth.errors import ArgumentError, ModelError
from medsynth.model_card import ModelCard, card_from_session
from medsynth.registry import DEFAULT_MODEL, REGISTRY
from medsynth.seeding import check_seed, latents

__all__ = ["Generator", "Batch", "DEFAULT_BATCH_SIZE", "file_sha256"]

DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class Batch:
    """One bounded batch from :meth:`Generator.stream`."""

    images: np.ndarray  # uint8 (B, H, W, C)
    labels: np.ndarray  # int64 (B,): the class index of every image
    indices: np.ndarray  # int64 (B,): the index of every image within its class


def _check_count(name: str, value: int) -> int:
    high = MAX_BATCH_SIZE if name == "batch_size" else MAX_INDEX
    return check_int(name, value, low=1, high=high)


def _resolve(name_or_path: str | os.PathLike[str] | None) -> tuple[Path, str | None]:
    """Return the model file and, for a bundled model, the sha256 it must have."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    text = os.fspath(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, os.PathLike)
        or text.endswith(".onnx")
        or os.sep in text
        or (os.altsep is not None and os.altsep in text)
    )
    if looks_like_path or Path(text).exists():
        return Path(text), None
    entry = REGISTRY.get(text)
    return REGISTRY.path(entry), entry.sha256


class Generator:
    """A loaded medsynth generator. Create it with :meth:`load`."""

    def __init__(self, session: Session, card: ModelCard, path: Path, sha256: str) -> None:
        self._session = session
        self._card = card
        self._path = path
        self._sha256 = sha256

    @classmethod
    def load(
        cls,
        name_or_path: str | os.PathLike[str] | None = None,
        device: str = "auto",
        threads: int | None = None,
    ) -> Generator:
        """Load a bundled model by name, or any conforming ONNX file by path.

        Parameters
        ----------
        name_or_path
            A bundled model name (see ``medsynth models``), or the path of an ONNX generator. ``None`` means
            the default bundled model.
        device
            ``"auto"`` (CUDA when onnxruntime offers it, else CPU), ``"cpu"``, or ``"cuda"`` (an error when it
            cannot be had; never a silent fallback).
        threads
            onnxruntime intra-op threads; ``None`` uses one per physical core. Results do not depend on it.

        Returns
        -------
        Generator
            The loaded model; its identity (sha256 of the ``.onnx`` and of every external-data file it
            references) is computed once here.

        Raises
        ------
        ModelError
            Unknown name, missing/truncated/non-ONNX file, no or invalid model card, a card that disagrees
            with the graph, or a bundled file whose sha256 is not the registered one.
        DeviceError
            CUDA asked for and not obtained.
        ArgumentError
            Unknown device or bad thread count.
        """
        path, want_sha256 = _resolve(name_or_path)
        session = create_session(path, device=device, threads=threads)
        card = card_from_session(session.session, source=str(path))
        sha256 = model_sha256(session.files)
        if want_sha256 is not None and sha256 != want_sha256:
            raise ModelError(
                f"bundled model file {path} has sha256 {sha256}, expected {want_sha256}; the "
                "install is damaged, reinstall medsynth"
            )
        return cls(session, card, path, sha256)

    # -- what the model is --------------------------------------------------------------------------
    @property
    def card(self) -> ModelCard:
        """The model card."""
        return self._card

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names; the label of an image is its index here."""
        return self._card.classes

    @property
    def path(self) -> Path:
        """The ONNX file."""
        return self._path

    @property
    def sha256(self) -> str:
        """The model's identity, hex: the sha256 of the ONNX file, or, when it keeps weights in external
        data files, of the ONNX file and every one of them (see :func:`medsynth._onnx_files.model_sha256`)."""
        return self._sha256

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``: where the session really runs."""
        return self._session.device

    def __repr__(self) -> str:
        return (
            f"Generator(name={self._card.name!r}, classes={list(self.classes)}, "
            f"size={self._card.image_size}, device={self.device!r}, path={str(self._path)!r})"
        )

    # -- generation ---------------------------------------------------------------------------------
    def generate_indices(self, cls: str | int, indices: Iterable[int], seed: int = 0) -> np.ndarray:
        """Return the images of class ``cls`` with the given indices, in one inference call.

        The building block of :meth:`generate` and :meth:`stream`, and of resuming or splitting a run: image
        ``(seed, cls, i)`` is the same whichever call makes it.

        Parameters
        ----------
        cls
            Class name or index.
        indices
            Image indices within the class (non-negative).
        seed
            Run seed (non-negative).

        Returns
        -------
        numpy.ndarray
            ``uint8`` array ``(len(indices), H, W, C)``.

        Raises
        ------
        UnknownClassError
            ``cls`` is not one of the model's classes.
        ModelError
            The model returned non-finite values or an image of the wrong shape.
        ArgumentError
            A negative seed or index.
        """
        class_index = self._card.class_index(cls)
        wanted = list(indices)
        z = latents(seed, class_index, wanted, self._card.latent_dim)  # checks the seed and the indices
        rows = np.asarray(wanted, dtype=np.int64)
        if len(rows) == 0:
            size, channels = self._card.image_size, self._card.channels
            return np.empty((0, size, size, channels), dtype=np.uint8)
        labels = np.full(len(rows), class_index, dtype=np.int64)
        (out,) = self._session.session.run(["image"], {"z": z, "label": labels})
        return self._to_uint8(np.asarray(out), class_index, rows)

    def _to_uint8(self, out: np.ndarray, class_index: int, rows: np.ndarray) -> np.ndarray:
        card = self._card
        want = (len(rows), card.channels, card.image_size, card.image_size)
        if out.shape != want:
            raise ModelError(
                f"{self._path}: the model returned images of shape {out.shape}, the card says "
                f"{want}; the model does not follow its own card"
            )
        finite = np.isfinite(out).reshape(len(rows), -1).all(axis=1)
        if not finite.all():
            bad = rows[~finite][:5].tolist()
            raise ModelError(
                f"{self._path}: the model returned NaN or infinite values for class "
                f"{card.classes[class_index]!r} (indices {bad}); the model is broken, "
                "re-export it"
            )
        # [-1, 1] -> [0, 255], round half to even, NCHW -> NHWC.
        return np.ascontiguousarray(to_uint8(out).transpose(0, 2, 3, 1))

    def stream(
        self, n: int, cls: str | int, seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE, start: int = 0
    ) -> Iterator[Batch]:
        """Yield ``n`` images of class ``cls`` in batches of at most ``batch_size``.

        Parameters
        ----------
        n
            Number of images (> 0).
        cls
            Class name or index.
        seed
            Run seed (non-negative).
        batch_size
            Most images per batch (> 0); the pixels do not depend on it.
        start
            Index of the first image; ``stream(n, c, s, start=k)`` continues ``stream(k, c, s)``.

        Yields
        ------
        Batch
            ``images`` uint8 ``(B, H, W, C)``, ``labels`` and ``indices`` int64 ``(B,)``.

        Raises
        ------
        ArgumentError
            ``n`` or ``batch_size`` not positive, negative ``seed`` or ``start``.
        UnknownClassError
            ``cls`` is not one of the model's classes.
        ModelError
            The model returned non-finite values.
        """
        n = _check_count("n", n)
        batch_size = _check_count("batch_size", batch_size)
        check_seed(seed)
        start = check_int("start", start, low=0, high=MAX_INDEX)
        if start + n - 1 > MAX_INDEX:
            raise ArgumentError(
                f"start + n must stay within {MAX_INDEX + 1} (image indices are int64), got "
                f"start {start} and n {n}"
            )
        return self._batches(n, self._card.class_index(cls), seed, batch_size, start)

    def _batches(self, n: int, class_index: int, seed: int, batch_size: int, start: int) -> Iterator[Batch]:
        for first in range(start, start + n, batch_size):
            rows = np.arange(first, min(first + batch_size, start + n), dtype=np.int64)
            images = self.generate_indices(class_index, rows.tolist(), seed)
            yield Batch(images=images, labels=np.full(len(rows), class_index, dtype=np.int64), indices=rows)

    def generate(
        self, n: int, cls: str | int, seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE, start: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``n`` images of class ``cls`` and their labels, in one array.

        Parameters
        ----------
        n, cls, seed, batch_size, start
            As for :meth:`stream`, which this collects.

        Returns
        -------
        images : numpy.ndarray
            ``uint8`` ``(n, H, W, C)``.
        labels : numpy.ndarray
            ``int64`` ``(n,)``, the class index.

        Raises
        ------
        ArgumentError, UnknownClassError, ModelError
            As for :meth:`stream`; an unknown class message lists the model's classes.
        """
        n = _check_count("n", n)
        card = self._card
        images = np.empty((n, card.image_size, card.image_size, card.channels), dtype=np.uint8)
        labels = np.empty(n, dtype=np.int64)
        for batch in self.stream(n, cls, seed=seed, batch_size=batch_size, start=start):
            rows = batch.indices - start
            images[rows[0] : rows[-1] + 1] = batch.images
            labels[rows[0] : rows[-1] + 1] = batch.labels
        return images, labels
