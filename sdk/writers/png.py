"""PNG output: one 8-bit greyscale or RGB PNG per image, the same bytes for the same image.

The file is written by ``medsynth.writers._png_encode`` (Paeth-filtered scanlines, ISA-L's deflate at
levels 1-3, zlib's at 0 and 4-9), with no timestamp chunk, so a re-run at the same level reproduces every
file byte for byte (the level changes the bytes, never the pixels). Each file carries tEXt chunks that say
it is synthetic and where it came from.

The default, level 1, comes from ``benchmarks/png_bench.py`` (size against encode time for every level, Pillow
and fpng as peers, png against npz end to end): ISA-L's level 1 is the fastest level that compresses, and its
files are smaller than Pillow's level 1. Earlier medsynth builds wrote their PNGs with Pillow: those
files hold the same pixels and text in other bytes, and a resumed run keeps them as they are.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from medsynth._checks import check_int
from medsynth._version import __version__
from medsynth.writers._png_encode import encode_png
from medsynth.writers.base import FileWriter, ImageMeta

__all__ = ["PngWriter", "DEFAULT_PNG_COMPRESSION", "PNG_COMPRESSION_LEVELS"]

DEFAULT_PNG_COMPRESSION = 1  # ISA-L level 1 (see the module docstring and benchmarks/png_bench.py)
PNG_COMPRESSION_LEVELS = range(10)  # 0 (stored, no compression) to 9 (smallest, slowest)


class PngWriter(FileWriter):
    """Writes ``<class>/<class>_<index>.png`` files.

    Parameters
    ----------
    compression
        0 (stored, no compression) to 9 (smallest, slowest): 1-3 are ISA-L's levels, the others zlib's; the
        same level gives the same bytes.

    Raises
    ------
    ArgumentError
        A level outside 0-9.
    """

    format_name: ClassVar[str] = "png"
    suffix: ClassVar[str] = ".png"

    def __init__(self, compression: int = DEFAULT_PNG_COMPRESSION) -> None:
        self.compression = check_int("the PNG compression level", compression, low=0, high=9)

    def encode(self, image: np.ndarray, meta: ImageMeta) -> bytes:
        """Return the PNG file of one image.

        Parameters
        ----------
        image
            ``uint8`` ``(H, W, 1)`` (written as mode ``L``) or ``(H, W, 3)`` (mode ``RGB``).
        meta
            What the image is; recorded in tEXt chunks.

        Returns
        -------
        bytes
            The PNG file.
        """
        text = {
            "Software": f"medsynth {__version__}",
            "Description": f"Synthetic image, not of a patient: model {meta.card.name}, class "
            f"{meta.class_name}, seed {meta.seed}, index {meta.index}",
            "medsynth:synthetic": "1",
            "medsynth:model_sha256": meta.model_sha256,
        }
        return encode_png(image, text, self.compression)
