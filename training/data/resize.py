"""Reading one image file into a square uint8 array of the training size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


def read_image(path: Path, size: int, channels: int) -> np.ndarray:
    """Read ``path``, centre-crop it to a square, resize it with antialiasing and return uint8 (size, size, C).

    Raises OSError / ValueError (PIL's own) when the file cannot be decoded; callers turn that into a skip.
    """
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if channels == 3 else "L")
            w, h = im.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
            if side != size:
                im = im.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
            arr = np.asarray(im, dtype=np.uint8)
    except UnidentifiedImageError as exc:
        raise ValueError(f"not an image: {exc}") from exc
    return arr.reshape(size, size, channels)
