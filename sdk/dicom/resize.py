"""Square, fixed-size images for training sets: pad the short side with black, then resample with Pillow.

Padding (rather than stretching or cropping) keeps the aspect ratio and every pixel of the field of view.
Pillow's BILINEAR filter widens its support when shrinking, so downscaling averages (no aliasing) without
the overshoot of higher-order filters.
"""

from __future__ import annotations

import numpy as np

from medsynth.errors import DataError

__all__ = ["to_square"]


def to_square(image: np.ndarray, size: int) -> np.ndarray:
    """Pad ``image`` to a centred square with zeros and resample it to ``size`` x ``size``.

    Parameters
    ----------
    image
        ``uint8`` ``(H, W)`` or ``(H, W, 3)``.
    size
        Output side in pixels.

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(size, size)`` or ``(size, size, 3)``.

    Raises
    ------
    DataError
        ``size`` is not a positive integer or ``image`` is not uint8 2-D / RGB.
    """
    from PIL import Image

    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise DataError(f"size must be a positive integer, got {size!r}")
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise DataError(f"to_square takes uint8 (H, W) or (H, W, 3) images, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    side = max(height, width)
    if side != height or side != width:
        padded = np.zeros((side, side) + image.shape[2:], dtype=np.uint8)
        top, left = (side - height) // 2, (side - width) // 2
        padded[top : top + height, left : left + width] = image
        image = padded
    if side == size:
        return np.ascontiguousarray(image)
    picture = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(picture.resize((int(size), int(size)), Image.Resampling.BILINEAR))
