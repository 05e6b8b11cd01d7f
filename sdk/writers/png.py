"""PNG output: one 8-bit greyscale or RGB PNG per image, the same bytes for the same image.

Pillow writes no timestamp chunk and the zlib level is explicit, so a re-run with the same level reproduces
every file byte for byte (the level changes the bytes, never the pixels). Each file carries tEXt chunks that
say it is synthetic and where it came from. Pillow is imported here only, when the first image is written.

The default level is to be confirmed by ``benchmarks/png_bench.py`` (size against encode time for levels
0-9 and fpng, and png against npz end to end) on an idle machine. Level 1 is zlib-ng's quick strategy (the
zlib that Pillow >= 11.1 bundles), the fastest level that compresses, for files about 11% larger than
level 6's on the bundled model's images. Level 6 reproduces the files of medsynth before the option.
"""

from __future__ import annotations

import io
from typing import ClassVar

import numpy as np

from medsynth._checks import check_int
from medsynth._version import __version__
from medsynth.writers.base import FileWriter, ImageMeta

__all__ = ["PngWriter", "DEFAULT_PNG_COMPRESSION", "PNG_COMPRESSION_LEVELS"]

DEFAULT_PNG_COMPRESSION = 1  # zlib level (see the module docstring and benchmarks/png_bench.py)
PNG_COMPRESSION_LEVELS = range(10)  # 0 (stored, no compression) to 9 (smallest, slowest)


class PngWriter(FileWriter):
    """Writes ``<class>/<class>_<index>.png`` files.

    Parameters
    ----------
    compression
        zlib level, 0 (none, fastest) to 9 (smallest); the same level gives the same bytes.

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
        from PIL import Image, PngImagePlugin

        pixels = image[:, :, 0] if image.shape[2] == 1 else image
        picture = Image.fromarray(np.ascontiguousarray(pixels))  # uint8 2-D -> mode L, (H, W, 3) -> RGB
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", f"medsynth {__version__}")
        info.add_text(
            "Description",
            f"Synthetic image, not of a patient: model {meta.card.name}, class "
            f"{meta.class_name}, seed {meta.seed}, index {meta.index}",
        )
        info.add_text("medsynth:synthetic", "1")
        info.add_text("medsynth:model_sha256", meta.model_sha256)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", pnginfo=info, compress_level=self.compression, optimize=False)
        return buffer.getvalue()
