"""Isolated off-colour pixels (medsynth.metrics.isolated_pixels). Oracles: the analytic chroma distance of a
planted speck, a brute-force loop over every pixel's eight neighbours, and a set compared with itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medsynth.errors import ArgumentError, DataError
from medsynth.metrics.isolated_pixels import MIN_THRESHOLD, isolated_pixel_comparison, pixel_isolation


def _flat(n: int, side: int = 9, colour: tuple[int, int, int] = (100, 100, 100)) -> np.ndarray:
    return np.broadcast_to(np.array(colour, dtype=np.uint8), (n, side, side, 3)).copy()


def test_a_planted_speck_has_its_analytic_chroma_distance_and_nothing_else_counts() -> None:
    images = _flat(1)
    images[0, 4, 4] = (160, 100, 100)  # chroma (R - G, (R + G) / 2 - B) = (60, 30) against (0, 0)
    iso = pixel_isolation(images)
    assert iso.shape == (1, 7, 7)
    assert iso[0, 3, 3] == pytest.approx(math.hypot(60, 30), rel=1e-6)
    iso[0, 3, 3] = 0
    assert not iso.any()  # the speck's neighbours each have a neighbour of their own colour


def test_brightness_alone_is_not_a_colour_speck_but_counts_in_grey_images() -> None:
    rgb = _flat(1)
    rgb[0, 4, 4] = (160, 160, 160)
    assert not pixel_isolation(rgb).any()
    grey = np.full((1, 9, 9), 100, dtype=np.uint8)
    grey[0, 4, 4] = 160
    assert pixel_isolation(grey)[0, 3, 3] == pytest.approx(60.0)
    np.testing.assert_array_equal(pixel_isolation(grey), pixel_isolation(grey[..., None]))


def test_a_one_pixel_hair_is_not_isolated() -> None:
    images = _flat(1)
    images[0, :, 4] = (40, 90, 20)  # a green line one pixel wide
    assert not pixel_isolation(images).any()


def test_against_a_brute_force_loop() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 6, 7, 3), dtype=np.uint8)
    f = images.astype(np.float64)
    chroma = np.stack([f[..., 0] - f[..., 1], (f[..., 0] + f[..., 1]) / 2 - f[..., 2]], axis=-1)
    want = np.empty((3, 4, 5))
    for n in range(3):
        for y in range(1, 5):
            for x in range(1, 6):
                want[n, y - 1, x - 1] = min(
                    float(np.linalg.norm(chroma[n, y, x] - chroma[n, y + dy, x + dx]))
                    for dy in (-1, 0, 1)
                    for dx in (-1, 0, 1)
                    if (dy, dx) != (0, 0)
                )
    np.testing.assert_allclose(pixel_isolation(images), want, rtol=1e-5, atol=1e-4)


def test_a_set_against_itself_gives_a_ratio_of_one() -> None:
    rng = np.random.default_rng(1)
    images = np.clip(rng.normal(128, 12, (40, 16, 16, 3)), 0, 255).astype(np.uint8)
    result = isolated_pixel_comparison(images, images)
    assert result.ratio == pytest.approx(1.0)
    assert result.real_images_affected == result.synthetic_images_affected == pytest.approx(0.1, abs=0.03)
    assert result.real_median_max == result.synthetic_median_max


def test_specks_in_every_synthetic_image_are_found() -> None:
    real = _flat(20, 12)
    rng = np.random.default_rng(2)
    real = np.clip(real + rng.normal(0, 1.5, real.shape), 0, 255).astype(np.uint8)  # sensor noise only
    synthetic = real.copy()
    synthetic[:, 5, 6] = (150, 60, 190)  # a purple speck in each
    result = isolated_pixel_comparison(real, synthetic)
    assert result.threshold == MIN_THRESHOLD  # the noise stays below the floor
    assert result.real_images_affected == 0.0 and result.synthetic_images_affected == 1.0
    assert result.ratio == pytest.approx(20.0)  # 1.0 over the floor of one real image in 20
    assert result.synthetic_pixel_rate == pytest.approx(1 / 100)  # one of each image's 10 x 10 interior
    assert set(result.as_dict()) >= {"threshold", "ratio", "synthetic_images_affected"}


@pytest.mark.parametrize(
    "shape", [(0, 8, 8, 3), (2, 2, 8, 3), (2, 8, 8, 2), (8, 8)], ids=["empty", "small", "2ch", "2d"]
)
def test_bad_image_arrays_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(DataError, match="got"):
        pixel_isolation(np.zeros(shape, dtype=np.uint8))


def test_sets_of_different_sizes_and_a_bad_quantile_are_refused() -> None:
    with pytest.raises(DataError, match="one size"):
        isolated_pixel_comparison(_flat(2, 8), _flat(2, 9))
    with pytest.raises(ArgumentError, match="quantile"):
        isolated_pixel_comparison(_flat(2), _flat(2), quantile=1.0)
