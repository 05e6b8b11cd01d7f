"""Spectral artefacts: where the synthetic images' mean power spectrum departs from the real images'.

Generators that up-sample, and discriminators that down-sample with strides, leave periodic patterns (grids,
dot lattices) that hardly move a Fréchet distance but stand out to the eye; they show as isolated peaks in
the ratio of the two sets' mean power spectra (Durall et al. 2020, "Watch your up-convolution"; Dzanic et
al. 2020, "Fourier spectrum discrepancies in deep network generated images"). This module measures that
ratio per spatial frequency: its largest value and where it sits, and the log-spectral distance over all
frequencies.

Each image is converted to luma (the channel mean), its own mean is removed, it is multiplied by a 2-D Hann
window (so the image borders do not leak power along the axes) and its periodogram ``|FFT|^2`` is averaged
over the set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsynth.errors import DataError

__all__ = [
    "luma",
    "mean_power_spectrum",
    "hann_window",
    "compared_bins",
    "SpectralComparison",
    "spectral_comparison",
]

_DC_RADIUS = 2  # bins around zero frequency left out: image content and vignetting, not artefacts
_CHUNK = 256  # images per FFT batch (bounds the memory of the complex intermediate)


def hann_window(h: int, w: int) -> np.ndarray:
    """The 2-D Hann window every periodogram here is taken under, float64 ``(h, w)``."""
    return np.outer(np.hanning(h), np.hanning(w))


def compared_bins(h: int, w: int) -> np.ndarray:
    """Bool ``(h, w)`` in numpy FFT order: the frequency bins compared, all but those within 2 of zero."""
    fy, fx = np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w
    compared: np.ndarray = ~((np.abs(fy) <= _DC_RADIUS)[:, None] & (np.abs(fx) <= _DC_RADIUS)[None, :])
    return compared


def luma(images: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` luma of ``(N, H, W[, C])`` images: the channel mean (float64), or grey images as given.

    Raises
    ------
    DataError
        An empty set or images that are not 2-D.
    """
    arr = np.asarray(images)
    if arr.ndim == 4:
        arr = arr.mean(axis=3, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise DataError(f"need a non-empty (N, H, W[, C]) image array, got shape {arr.shape}")
    return arr


def mean_power_spectrum(images: np.ndarray) -> np.ndarray:
    """Mean Hann-windowed periodogram of the luma of ``images``.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, H, W)`` or ``(N, H, W, C)`` images of any numeric type, N > 0.

    Returns
    -------
    numpy.ndarray
        float64 ``(H, W)`` power per frequency bin, in numpy's FFT order (``numpy.fft.fftfreq``).

    Raises
    ------
    DataError
        An empty set or images that are not 2-D.
    """
    arr = luma(images)
    h, w = arr.shape[1:]
    window = hann_window(h, w)
    total = np.zeros((h, w))
    for start in range(0, arr.shape[0], _CHUNK):
        x = arr[start : start + _CHUNK].astype(np.float64)
        x -= x.mean(axis=(1, 2), keepdims=True)
        total += (np.abs(np.fft.fft2(x * window)) ** 2).sum(axis=0)
    mean: np.ndarray = total / arr.shape[0]
    return mean


@dataclass(frozen=True)
class SpectralComparison:
    """Synthetic-to-real power ratio per frequency, summarised."""

    peak_ratio: float  # largest synthetic/real power ratio outside the lowest frequencies
    peak_frequency: tuple[float, float]  # (fy, fx) of that peak in cycles per pixel, fx >= 0
    log_spectral_distance_db: float  # RMS over the same bins of 10*log10(synthetic/real), in dB
    ratio: np.ndarray  # (H, W) ratio per bin, numpy FFT order; 1 where the real power is 0

    def as_dict(self) -> dict[str, float | list[float]]:
        """The summary as JSON values (without the full ratio map)."""
        return {
            "peak_ratio": self.peak_ratio,
            "peak_frequency": list(self.peak_frequency),
            "log_spectral_distance_db": self.log_spectral_distance_db,
        }


def spectral_comparison(real: np.ndarray, synthetic: np.ndarray) -> SpectralComparison:
    """Compare the mean power spectra of two image sets of one size.

    Parameters
    ----------
    real, synthetic : numpy.ndarray
        ``(N, H, W[, C])`` images; the sets may differ in N but not in H and W.

    Returns
    -------
    SpectralComparison
        The peak ratio, its frequency and the log-spectral distance. Bins within 2 of zero frequency (per
        axis) are left out. A set compared with itself gives a peak ratio of 1 and a distance of 0.

    Raises
    ------
    DataError
        Empty sets or sets of different image sizes.
    """
    pr, ps = mean_power_spectrum(real), mean_power_spectrum(synthetic)
    if pr.shape != ps.shape:
        raise DataError(
            f"real images are {pr.shape[0]}x{pr.shape[1]} and synthetic ones "
            f"{ps.shape[0]}x{ps.shape[1]}; compare sets of one size"
        )
    h, w = pr.shape
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    keep = compared_bins(h, w)
    floor = np.finfo(np.float64).tiny
    ratio = np.where(pr > floor, ps / np.maximum(pr, floor), 1.0)
    masked = np.where(keep, ratio, -np.inf)
    iy, ix = np.unravel_index(int(np.argmax(masked)), masked.shape)
    peak = (float(fy[iy]), float(fx[ix]))
    if peak[1] < 0 or (peak[1] == 0 and peak[0] < 0):  # the spectrum of a real image is symmetric
        peak = (-peak[0] + 0.0, -peak[1] + 0.0)
    lsd = float(np.sqrt(np.mean((10 * np.log10(np.maximum(ratio[keep], floor))) ** 2)))
    return SpectralComparison(float(masked[iy, ix]), peak, lsd, ratio)
