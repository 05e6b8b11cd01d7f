"""PNG's Paeth filter (filter type 4) as one compiled pass: the kernel behind ``_png_encode``."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["paeth_rows", "PAETH"]

PAETH = 4  # PNG filter type Paeth


@njit(cache=True)
def paeth_rows(pixels: np.ndarray, bpp: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Fill ``out`` (H, W*C + 1) with filter byte 4 and the Paeth-filtered bytes of ``pixels`` (H, W*C)."""
    height, row_bytes = pixels.shape
    for y in range(height):
        out[y, 0] = PAETH
        for i in range(row_bytes):
            a = np.int32(pixels[y, i - bpp]) if i >= bpp else np.int32(0)
            b = np.int32(pixels[y - 1, i]) if y > 0 else np.int32(0)
            c = np.int32(pixels[y - 1, i - bpp]) if y > 0 and i >= bpp else np.int32(0)
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
            out[y, i + 1] = (np.int32(pixels[y, i]) - predictor) & 255
