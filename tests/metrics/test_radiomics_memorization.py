"""Radiomic features against scikit-image and scipy; the memorization audit on planted copies."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medsynth.errors import DataError
from medsynth.metrics.memorization import memorization_audit, pixel_space, save_closest_pairs
from medsynth.metrics.radiomics import (
    FIRST_ORDER,
    GLCM_LEVELS,
    frechet_radiomics_distance,
    radiomic_feature_names,
    radiomic_features,
)


def _textures(n: int, seed: int, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for _ in range(n):
        f = rng.uniform(0.05, 0.6)
        img = (
            128
            + 90 * np.sin(f * xx + rng.uniform(0, 6)) * np.cos(f * 0.7 * yy)
            + rng.normal(0, 15, (size, size))
        )
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def test_glcm_features_match_scikit_image():
    from skimage.feature import graycomatrix, graycoprops

    imgs = _textures(3, seed=0)
    feats = radiomic_features(imgs)
    names = radiomic_feature_names(1)
    for img, row in zip(imgs, feats, strict=False):
        levels = np.minimum(img // (256 // GLCM_LEVELS), GLCM_LEVELS - 1).astype(np.uint8)
        glcm = graycomatrix(
            levels,
            [1],
            [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4],
            levels=GLCM_LEVELS,
            symmetric=True,
            normed=True,
        )
        for ours, theirs in (
            ("contrast", "contrast"),
            ("dissimilarity", "dissimilarity"),
            ("homogeneity", "homogeneity"),
            ("asm", "ASM"),
            ("energy", "energy"),
            ("correlation", "correlation"),
            ("joint_entropy", "entropy"),
            ("joint_average", "mean"),
        ):
            expected = graycoprops(glcm, theirs).mean()
            assert row[names.index(f"glcm_{ours}")] == pytest.approx(expected, rel=1e-9, abs=1e-12), ours


def test_first_order_features_match_numpy_and_scipy():
    from scipy import stats

    img = _textures(1, seed=1)[0]
    row = radiomic_features(img[None])[0]
    v = img.astype(np.float64).ravel()
    hist = np.histogram(v, bins=32, range=(0, 256))[0] / v.size
    expected = {
        "mean": v.mean(),
        "std": v.std(),
        "skewness": stats.skew(v),
        "kurtosis": stats.kurtosis(v, fisher=False),
        "p10": np.percentile(v, 10),
        "median": np.median(v),
        "p90": np.percentile(v, 90),
        "iqr": stats.iqr(v),
        "range": np.ptp(v),
        "mean_abs_deviation": np.abs(v - v.mean()).mean(),
        "rms": np.sqrt((v**2).mean()),
        "entropy": stats.entropy(hist),
        "uniformity": (hist**2).sum(),
    }
    for i, name in enumerate(FIRST_ORDER):
        assert row[i] == pytest.approx(expected[name], rel=1e-9), name


def test_colour_features_and_frd():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(6, 24, 24, 3), dtype=np.uint8)
    feats = radiomic_features(rgb)
    assert feats.shape == (6, len(radiomic_feature_names(3)))
    np.testing.assert_allclose(feats[:, -6:-3], rgb.mean(axis=(1, 2)) / 255.0, rtol=1e-12)
    a, b = _textures(20, seed=3), _textures(20, seed=4)
    assert frechet_radiomics_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    brighter = np.clip(b.astype(int) + 60, 0, 255).astype(np.uint8)
    assert frechet_radiomics_distance(a, brighter) > frechet_radiomics_distance(a, b) > 0
    with pytest.raises(DataError, match="uint8"):
        radiomic_features(a.astype(np.float32))


def test_audit_finds_planted_copies_and_saves_the_pairs(tmp_path):
    rng = np.random.default_rng(5)
    train = rng.integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    holdout = rng.integers(0, 256, size=(30, 32, 32, 3), dtype=np.uint8)
    fresh = rng.integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)
    copies = np.clip(train[[3, 7, 11, 19]].astype(int) + rng.integers(-2, 3, (4, 32, 32, 3)), 0, 255).astype(
        np.uint8
    )
    synthetic = np.concatenate([fresh, copies])
    res = memorization_audit(
        pixel_space(synthetic), pixel_space(train), pixel_space(holdout), space="pixels-32", percentile=5.0
    )
    assert np.all(res.synthetic_to_train[16:] < res.threshold)  # every planted copy is flagged
    assert 4 / 20 <= res.copy_rate <= 6 / 20  # and at most a chance fresh image besides
    assert set(res.closest(4)) == {16, 17, 18, 19}
    np.testing.assert_array_equal(res.nearest_train[16:], [3, 7, 11, 19])
    assert res.summary()["n_copies"] == round(res.copy_rate * 20)
    png = save_closest_pairs(tmp_path / "pairs.png", synthetic, train, res, k=4)
    grid = np.asarray(Image.open(png))
    assert grid.shape == (4 * 32 + 3 * 4, 2 * 32 + 4, 3)
    first = res.closest(1)[0]
    np.testing.assert_array_equal(grid[:32, :32], synthetic[first])
    np.testing.assert_array_equal(grid[:32, 36:], train[res.nearest_train[first]])


def test_audit_of_a_non_copying_generator_is_near_the_percentile():
    rng = np.random.default_rng(6)
    train, holdout, synthetic = (
        rng.standard_normal((300, 8)),
        rng.standard_normal((400, 8)),
        rng.standard_normal((400, 8)),
    )
    res = memorization_audit(synthetic, train, holdout, space="test", percentile=5.0)
    assert res.copy_rate < 0.12 and 0.8 < res.median_ratio < 1.25
    with pytest.raises(DataError, match="percentile"):
        memorization_audit(synthetic, train, holdout, space="test", percentile=0)


def test_pixel_space_is_rms_difference():
    a = np.zeros((1, 64, 64), np.uint8)
    b = np.full((1, 64, 64), 51, np.uint8)
    d = np.linalg.norm(pixel_space(a) - pixel_space(b))
    assert d == pytest.approx(0.2)
