"""The one resize policy: how every real image is brought to the size a model works at.

``center-crop+lanczos``: cut the largest centred region with the target's aspect ratio (for a square target,
the centred square of side min(H, W)), then resample it to the target with Pillow's Lanczos filter
(``reducing_gap=3.0``: shrinking by a large factor first averages whole pixel blocks). Cropping keeps the
geometry (nothing is stretched) and dermoscopy centres the lesion; Lanczos is antialiased when shrinking.

Training (every layout, DICOM frames included), ``medsynth evaluate`` and the utility benchmark read real
images through it, so the evaluation sees real images the way the model was trained on them. The trainer
records the name in the checkpoint and export writes it into the model card (``resize_policy``); ``medsynth
evaluate --model`` loads the real images with the card's policy. A card without the field predates it: its
model was trained with this same policy (photographs and arrays; DICOM frames were padded, then resampled
bilinearly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from medsynth.errors import DataError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from PIL import Image

__all__ = ["RESIZE_POLICY", "RESIZE_POLICIES", "check_resize_policy", "fit_image", "fit_array", "to_channels"]

RESIZE_POLICY = "center-crop+lanczos"  # the policy this medsynth applies
RESIZE_POLICIES = (RESIZE_POLICY,)  # the policies it can apply (a card may name only these)
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 weights, as Pillow's "L" conversion


def check_resize_policy(name: str) -> str:
    """Return ``name`` when this medsynth can apply it.

    Raises
    ------
    DataError
        An unknown policy (e.g. from a model card written by a newer medsynth).
    """
    if name not in RESIZE_POLICIES:
        raise DataError(
            f"unknown resize policy {str(name)[:80]!r}; this medsynth applies {', '.join(RESIZE_POLICIES)} "
            "(upgrade medsynth to read images the way this model's training did)"
        )
    return name


def fit_image(image: Image.Image, height: int, width: int) -> Image.Image:
    """Centre-crop a Pillow image to the aspect ratio of ``height`` x ``width``, then resample it."""
    from PIL import Image

    w0, h0 = image.size
    if w0 * height > h0 * width:  # wider than the target: keep the full height
        cw, ch = (h0 * width + height // 2) // height, h0
    else:
        cw, ch = w0, (w0 * height + width // 2) // width
    if (cw, ch) != (w0, h0):
        left, top = (w0 - cw) // 2, (h0 - ch) // 2
        image = image.crop((left, top, left + cw, top + ch))
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def fit_array(image: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """uint8 (H, W[, C]) -> (height, width[, C]) by :func:`fit_image` (``width`` defaults to ``height``)."""
    from PIL import Image

    width = height if width is None else width
    if image.shape[:2] == (height, width):
        return image
    squeeze = image.ndim == 3 and image.shape[2] == 1
    picture = Image.fromarray(np.ascontiguousarray(image[..., 0] if squeeze else image))
    out = np.asarray(fit_image(picture, height, width))
    return out[..., None] if squeeze else out


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 (N, H, W, 1 or 3) -> (N, H, W, ``channels``): grayscale repeated, or RGB to BT.601 luma.

    Raises
    ------
    DataError
        ``channels`` is not 1 or 3.
    """
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}")
    if images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    grey: np.ndarray = np.clip(np.round(images @ LUMA), 0, 255).astype(np.uint8)[..., None]
    return grey
