"""NPZ output: one ``.npz`` file holding a whole run, written as a stream and committed atomically.

Arrays in the file (all readable with ``numpy.load(path)``, no pickle):

* ``images``: ``uint8`` ``(N, H, W, C)``
* ``labels``: ``int64`` ``(N,)``, index into ``class_names``
* ``indices``: ``int64`` ``(N,)``, each image's index within its class under ``seed``
* ``class_names``: the model's classes, in label order
* ``seed``: ``int64`` scalar; ``model_sha256``: the model file's sha256

The zip entries carry a fixed timestamp, so the same run gives the same bytes (``numpy.savez`` stamps the
current time). Images are streamed into the file batch by batch; a run of any size never sits in memory.
"""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, ClassVar

import numpy as np

from medsynth.writers._atomic import atomic_open
from medsynth.writers.base import ContainerWriter, ImageMeta, check_image

__all__ = ["NpzWriter"]

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
_BLOCK = 1 << 16  # labels and indices written per block


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _write_header(handle: IO[bytes], dtype: np.dtype, shape: tuple[int, ...]) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(handle, header)


def _write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    array = np.asarray(array, order="C")  # (ascontiguousarray would turn a 0-d array into 1-d)
    with archive.open(_entry(name), "w", force_zip64=True) as handle:
        _write_header(handle, array.dtype, array.shape)
        handle.write(array.tobytes())


def _write_column(archive: zipfile.ZipFile, name: str, n: int, values: Iterator[int]) -> None:
    """Write ``n`` int64 values as one array, a block at a time (a run's labels never sit in a list)."""
    with archive.open(_entry(name), "w", force_zip64=True) as handle:
        _write_header(handle, np.dtype(np.int64), (n,))
        while block := np.fromiter(itertools.islice(values, _BLOCK), dtype=np.int64).tobytes():
            handle.write(block)


class NpzWriter(ContainerWriter):
    """Writes a whole run to one ``images.npz``."""

    format_name: ClassVar[str] = "npz"
    suffix: ClassVar[str] = ".npz"

    def write_all(self, path: Path, metas: Sequence[ImageMeta], batches: Iterable[np.ndarray]) -> None:
        """Write every image of a run to ``path`` (see :class:`medsynth.writers.base.ContainerWriter`).

        Parameters
        ----------
        path
            The ``.npz`` file; it appears only once complete.
        metas
            One meta per image, in file order; all from one model and seed.
        batches
            ``uint8`` ``(B, H, W, C)`` arrays following ``metas``.

        Raises
        ------
        ValueError
            Empty ``metas``, metas of several models or seeds, or batches that do not match ``metas``.
        OSError
            The folder is not writable.
        """
        if not metas:
            raise ValueError("an NPZ run needs at least one image")
        card, seed, sha256 = metas[0].card, metas[0].seed, metas[0].model_sha256

        def checked(meta: ImageMeta) -> ImageMeta:  # checked as the labels are written, not in a pass first
            if meta.seed != seed or meta.model_sha256 != sha256:
                raise ValueError("all images of one NPZ file must come from one model and seed")
            return meta

        shape = (len(metas), card.image_size, card.image_size, card.channels)
        with atomic_open(path) as raw, zipfile.ZipFile(raw, "w", allowZip64=True) as archive:
            written = 0
            with archive.open(_entry("images"), "w", force_zip64=True) as handle:
                _write_header(handle, np.dtype(np.uint8), shape)
                for batch in batches:
                    if written + len(batch) > len(metas):
                        raise ValueError(f"more images than the {len(metas)} metas given")
                    for image in batch:
                        check_image(image, card)
                    handle.write(np.ascontiguousarray(batch).tobytes())
                    written += len(batch)
            if written != len(metas):
                raise ValueError(f"{written} images written but {len(metas)} metas given")
            _write_column(archive, "labels", len(metas), (checked(m).class_index for m in metas))
            _write_column(archive, "indices", len(metas), (m.index for m in metas))
            _write_array(archive, "class_names", np.array(card.classes, dtype=str))
            _write_array(archive, "seed", np.array(seed, dtype=np.int64))
            _write_array(archive, "model_sha256", np.array(sha256, dtype=str))
