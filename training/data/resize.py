"""Reading one image file into a square uint8 array of the training size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


def read_image(path: Path, size: int, channels: int) -> np.ndarray:
    """Read ``path``, centre-crop it to a square, resize it (antialiased) and return uint8 (size, size, C).

    Raises OSError / ValueError (PIL's own) when the file cannot be decoded; callers turn that into a skip.
    """
    try:
        with Image.open(path) as opened:
            im = opened.convert("RGB" if channels == 3 else "L")
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


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 square (H, H, C) -> (size, size, C), Lanczos: arrays (MedMNIST, generated images) resized as
    :func:`read_image` resizes files."""
    im = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
    return np.asarray(im.resize((size, size), Image.Resampling.LANCZOS)).reshape(size, size, -1)


LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 weights, as PIL's "L" conversion


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 (N, H, W, 1 or 3) -> (N, H, W, ``channels``): grayscale repeated, or RGB to BT.601 luma."""
    if images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    return np.clip(np.round(images @ LUMA), 0, 255).astype(np.uint8)[..., None]
