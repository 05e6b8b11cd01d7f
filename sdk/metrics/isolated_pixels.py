"""Isolated off-colour pixels: single pixels whose colour differs from every one of their eight neighbours',
counted in a synthetic set against a real set of one size.

Generators can paint isolated purple or green pixels inside lesions, which a Fréchet distance hardly moves but
an eye at 4x sees at once. Real photographs rarely hold them: a lens blurs over more than a pixel and JPEG
stores colour at half resolution. A pixel that sits on an edge or on a one-pixel hair still has neighbours of
its own colour along the edge or the hair; a pixel unlike all of its neighbours is a speck.

For every interior pixel (the one-pixel border has no full neighbourhood and is left out) this module takes
its **isolation**: the smallest distance from its colour to any of its 8 neighbours' colours, in 0-255 units.
Colour is the chroma for RGB images, the opponent pair ``(R - G, (R + G) / 2 - B)`` (so a brightness change
alone does not count), and the intensity for single-channel images. Each image is summarised by its most
isolated pixel. The threshold is the real images' 90th percentile of that maximum (never below
:data:`MIN_THRESHOLD`, so that flat real images do not make noise count): one real image in ten holds a pixel
more isolated than it. The comparison reports the share of synthetic images that do (about 0.1 when the
sets agree), its ratio to the real share (a set compared with itself gives 1), the medians of the per-image
maximum, and the rate of pixels above the threshold in both sets.

Taking the threshold from the per-image maxima rather than from all real pixels pooled keeps a few noisy
real images (ISIC 2017's val split holds some) from setting it alone. On ISIC 2017 at 64 px the per-image
maximum of real training images has a median of 10 and a 90th percentile of 16; real val images 10.5 and 30.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsynth.errors import ArgumentError, DataError

__all__ = ["MIN_THRESHOLD", "NEIGHBOURS", "IsolatedPixels", "isolated_pixel_comparison", "pixel_isolation"]

MIN_THRESHOLD = 8.0  # 0-255 units: below this a colour step is noise, not a speck
_CHUNK = 64  # images per pass (bounds the memory of the shifted copies)
# (dy, dx) of the 8 neighbours of a pixel, the ones its isolation is measured against
NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def _colour(images: np.ndarray) -> np.ndarray:
    """float32 ``(N, H, W, K)``: the chroma pair of RGB images, the intensity of single-channel ones."""
    x = images.astype(np.float32)
    if x.ndim == 3:
        return x[..., None]
    if x.shape[3] == 1:
        return x
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return np.stack([r - g, (r + g) / 2 - b], axis=-1)


def pixel_isolation(images: np.ndarray) -> np.ndarray:
    """Per interior pixel, the smallest colour distance to any of its 8 neighbours.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)`` images on a 0-255 scale, H and W at least 3.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H - 2, W - 2)``.

    Raises
    ------
    DataError
        An empty set, images smaller than 3x3, or a channel count other than 1 or 3.
    """
    arr = np.asarray(images)
    if arr.ndim not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] < 3 or arr.shape[2] < 3:
        raise DataError(f"need a non-empty (N, H, W[, C]) image array of at least 3x3, got shape {arr.shape}")
    if arr.ndim == 4 and arr.shape[3] not in (1, 3):
        raise DataError(f"need 1 or 3 channels, got {arr.shape[3]} (shape {arr.shape})")
    n, h, w = arr.shape[:3]
    out = np.empty((n, h - 2, w - 2), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        c = _colour(arr[start : start + _CHUNK])
        centre = c[:, 1:-1, 1:-1]
        nearest = np.full(centre.shape[:3], np.inf, dtype=np.float32)
        for dy, dx in NEIGHBOURS:
            neighbour = c[:, 1 + dy : h - 1 + dy, 1 + dx : w - 1 + dx]
            np.minimum(nearest, ((centre - neighbour) ** 2).sum(axis=-1), out=nearest)
        out[start : start + len(c)] = np.sqrt(nearest)
    return out


@dataclass(frozen=True)
class IsolatedPixels:
    """How often each set's images hold a pixel unlike all its neighbours, at a threshold set by the real."""

    threshold: float  # isolation (0-255 colour units): the real images' quantile of their most isolated pixel
    real_images_affected: float  # share of real images whose most isolated pixel exceeds the threshold
    synthetic_images_affected: float  # the same, synthetic set
    ratio: float  # synthetic_images_affected / real_images_affected (1 when the sets agree)
    real_median_max: float  # median over real images of the most isolated pixel's isolation
    synthetic_median_max: float  # the same, synthetic set
    real_pixel_rate: float  # pixels above the threshold per interior pixel, real set
    synthetic_pixel_rate: float  # the same, synthetic set

    def as_dict(self) -> dict[str, float]:
        """The summary as JSON values."""
        return {k: float(v) for k, v in self.__dict__.items()}


def isolated_pixel_comparison(
    real: np.ndarray, synthetic: np.ndarray, *, quantile: float = 0.9
) -> IsolatedPixels:
    """Compare how often two image sets of one size hold isolated off-colour pixels.

    Parameters
    ----------
    real, synthetic : numpy.ndarray
        Images as :func:`pixel_isolation` takes them, of one size and channel count; the sets may differ in N.
    quantile
        Quantile of the real images' per-image maximum isolation that sets the threshold.

    Returns
    -------
    IsolatedPixels
        The threshold, the share of images of each set above it and their ratio, the median per-image
        maximum of each set, and the rate of pixels above the threshold in each.

    Raises
    ------
    DataError
        Sets of different sizes or channel counts, or as :func:`pixel_isolation`.
    ArgumentError
        ``quantile`` outside (0, 1).
    """
    if not 0.0 < quantile < 1.0:
        raise ArgumentError(f"quantile must be in (0, 1), got {quantile}")
    r, s = np.asarray(real), np.asarray(synthetic)
    if r.shape[1:] != s.shape[1:]:
        raise DataError(
            f"real images have shape {r.shape[1:]} and synthetic ones {s.shape[1:]}; compare sets of one size"
        )
    iso_r, iso_s = pixel_isolation(r), pixel_isolation(s)
    max_r, max_s = iso_r.max(axis=(1, 2)), iso_s.max(axis=(1, 2))
    threshold = max(MIN_THRESHOLD, float(np.quantile(max_r, quantile)))
    real_share, synthetic_share = float((max_r > threshold).mean()), float((max_s > threshold).mean())
    return IsolatedPixels(
        threshold=threshold,
        real_images_affected=real_share,
        synthetic_images_affected=synthetic_share,
        ratio=synthetic_share / max(real_share, 1.0 / len(max_r)),
        real_median_max=float(np.median(max_r)),
        synthetic_median_max=float(np.median(max_s)),
        real_pixel_rate=float((iso_r > threshold).mean()),
        synthetic_pixel_rate=float((iso_s > threshold).mean()),
    )
