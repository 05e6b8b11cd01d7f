"""PNG output: one 8-bit greyscale or RGB PNG per image, the same bytes for the same image.

Pillow writes no timestamp chunk; the settings below are fixed, so a re-run reproduces every file byte for
byte. Each file carries tEXt chunks that say it is synthetic and where it came from. Pillow is imported here
only, when the first image is written.
"""

from __future__ import annotations

import io
from typing import ClassVar

import numpy as np

from medsynth._version import __version__
from medsynth.writers.base import FileWriter, ImageMeta

__all__ = ["PngWriter"]

_COMPRESS_LEVEL = 6  # zlib level; fixed so the bytes do not depend on Pillow's default


class PngWriter(FileWriter):
    """Writes ``<class>/<class>_<index>.png`` files."""

    format_name: ClassVar[str] = "png"
    suffix: ClassVar[str] = ".png"

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
        info.add_text("Description", f"Synthetic image, not of a patient: model {meta.card.name}, class "
                                     f"{meta.class_name}, seed {meta.seed}, index {meta.index}")
        info.add_text("medsynth:synthetic", "1")
        info.add_text("medsynth:model_sha256", meta.model_sha256)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", pnginfo=info, compress_level=_COMPRESS_LEVEL, optimize=False)
        return buffer.getvalue()
