"""The full-reference kernels against piq (float64), scikit-image and analytic answers."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers.metrics import noisy_pairs, piq_score

from medsynth.errors import DataError
from medsynth.metrics import gmsd, haarpsi, mdsi, ms_gmsd, ms_ssim, psnr, ssim

ISIC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "isic2017" / "images"

# ours -> (piq function name, extra piq keyword arguments)
PIQ_NAMES = {
    ssim: "ssim",
    ms_ssim: "multi_scale_ssim",
    gmsd: "gmsd",
    ms_gmsd: "multi_scale_gmsd",
    mdsi: "mdsi",
    haarpsi: "haarpsi",
}


def _piq(piq, fn, x, y, data_range):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # piq's MDSI warns about grey input; torch may warn about old APIs
        return piq_score(piq, PIQ_NAMES[fn], x, y, data_range)


@pytest.mark.parametrize("fn", [ssim, gmsd, ms_gmsd, mdsi, haarpsi], ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(4, 64, 64, 3), (3, 37, 50, None), (2, 45, 46, 1)], ids=str)
def test_matches_piq_small(piq, fn, shape):
    n, h, w, c = shape
    x, y = noisy_pairs(n, h, w, c, seed=h)
    ours = fn(x, y)
    assert ours.shape == (n,)
    np.testing.assert_allclose(ours, _piq(piq, fn, x, y, 255.0), atol=1e-4, rtol=0)


@pytest.mark.parametrize("fn", list(PIQ_NAMES), ids=lambda f: f.__name__)
def test_matches_piq_on_unrelated_float_images(piq, fn):
    """Independent uniform noise: large differences, float input with a data range other than 1 or 255."""
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 4.0, size=(2, 200, 170, 3))
    y = rng.uniform(0, 4.0, size=(2, 200, 170, 3))
    np.testing.assert_allclose(fn(x, y, data_range=4.0), _piq(piq, fn, x, y, 4.0), atol=1e-4, rtol=0)


@pytest.mark.parametrize("fn", [ssim, mdsi, gmsd, haarpsi], ids=lambda f: f.__name__)
def test_matches_piq_with_downsampling(piq, fn):
    """Above 384 pixels piq average-pools first (SSIM, MDSI by round(side / 256)); odd sides pad."""
    x, y = noisy_pairs(1, 513, 401, 3, seed=3)
    np.testing.assert_allclose(fn(x, y), _piq(piq, fn, x, y, 255.0), atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape", [(2, 200, 161, 3), (2, 175, 190, None)], ids=str)
def test_ms_ssim_matches_piq(piq, shape):
    n, h, w, c = shape
    x, y = noisy_pairs(n, h, w, c, seed=w)
    np.testing.assert_allclose(ms_ssim(x, y), _piq(piq, ms_ssim, x, y, 255.0), atol=1e-4, rtol=0)


def test_psnr_matches_skimage_and_piq_below_40_db(piq):
    from skimage.metrics import peak_signal_noise_ratio

    x, y = noisy_pairs(4, 64, 64, 3, seed=11)
    ours = psnr(x, y)
    expected = [peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(x, y, strict=False)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    below = ours < 40
    assert below.any()
    np.testing.assert_allclose(ours[below], piq_score(piq, "psnr", x, y, 255.0)[below], atol=1e-4, rtol=0)


def test_psnr_differs_from_piq_only_by_its_epsilon(piq):
    """piq computes -10 log10(MSE + 1e-8) on [0, 1] images; ours has no epsilon (inf for identical images)."""
    x, y = noisy_pairs(3, 32, 32, None, seed=2)
    mse = ((x / 255.0 - y / 255.0) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(
        -10 * np.log10(10 ** (-psnr(x, y) / 10) + 1e-8), piq_score(piq, "psnr", x, y, 255.0), rtol=1e-10
    )
    np.testing.assert_allclose(psnr(x, y), -10 * np.log10(mse), rtol=1e-12)
    assert piq_score(piq, "psnr", x, x, 255.0)[0] == pytest.approx(80.0)
    assert np.all(np.isinf(psnr(x, x)))


@pytest.mark.parametrize("channels", [None, 3])
def test_ssim_matches_skimage(channels):
    from skimage.metrics import structural_similarity

    x, y = noisy_pairs(3, 70, 90, channels, seed=5)
    expected = [
        structural_similarity(
            a,
            b,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            channel_axis=-1 if channels else None,
        )
        for a, b in zip(x, y, strict=False)
    ]
    np.testing.assert_allclose(ssim(x, y), expected, atol=1e-4, rtol=0)


def test_identical_images_give_the_ideal_values():
    x, _ = noisy_pairs(2, 200, 200, 3, seed=1)
    assert np.all(np.isinf(psnr(x, x)))
    np.testing.assert_allclose(ssim(x, x), 1.0, atol=1e-12)
    np.testing.assert_allclose(ms_ssim(x, x), 1.0, atol=1e-12)
    np.testing.assert_allclose(ms_ssim(x, x, scale_weights=(1, 1, 1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(gmsd(x, x), 0.0, atol=1e-12)
    np.testing.assert_allclose(ms_gmsd(x, x), 0.0, atol=1e-12)
    np.testing.assert_allclose(mdsi(x, x), 0.0, atol=1e-6)
    np.testing.assert_allclose(haarpsi(x, x), 1.0, atol=1e-12)


def test_uint8_float_and_grey_layouts_agree():
    x, y = noisy_pairs(2, 48, 48, None, seed=4)
    for fn in (psnr, ssim, gmsd, ms_gmsd, mdsi, haarpsi):
        a = fn(x, y)
        np.testing.assert_allclose(fn(x / 255.0, y / 255.0), a, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fn(x[..., None], y[..., None]), a, rtol=1e-12)
        np.testing.assert_allclose(
            fn(x.astype(np.float32), y.astype(np.float32), data_range=255), a, rtol=1e-6, atol=1e-9
        )


def test_worse_noise_scores_worse():
    rng = np.random.default_rng(0)
    x, _ = noisy_pairs(1, 64, 64, 3, seed=0)
    base = x.astype(np.float64)
    light = np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
    pair = np.concatenate([x, x]), np.concatenate([light, heavy])
    assert psnr(*pair)[0] > psnr(*pair)[1]
    assert ssim(*pair)[0] > ssim(*pair)[1]
    assert haarpsi(*pair)[0] > haarpsi(*pair)[1]
    assert gmsd(*pair)[0] < gmsd(*pair)[1]
    assert mdsi(*pair)[0] < mdsi(*pair)[1]


@pytest.mark.skipif(not ISIC.is_dir(), reason="real ISIC 2017 images not present at ../shared/data")
def test_matches_piq_on_real_dermoscopy(piq):
    from PIL import Image

    files = sorted(ISIC.glob("*.jpg"))[:4]
    imgs = np.stack([np.asarray(Image.open(f).convert("RGB").resize((256, 256))) for f in files])
    x, y = imgs[:2], imgs[2:]
    for fn in (ssim, ms_ssim, gmsd, ms_gmsd, mdsi, haarpsi):
        np.testing.assert_allclose(
            fn(x, y), _piq(piq, fn, x, y, 255.0), atol=1e-4, rtol=0, err_msg=fn.__name__
        )


def test_bad_input_is_refused_with_a_clear_error():
    x = np.zeros((2, 32, 32), np.uint8)
    with pytest.raises(DataError, match="same shape"):
        psnr(x, x[:1])
    with pytest.raises(DataError, match="outside"):
        ssim(x / 1.0 + 2.0, x / 1.0)
    with pytest.raises(DataError, match="need 161"):
        ms_ssim(x, x)
    with pytest.raises(DataError, match="channels"):
        gmsd(np.zeros((1, 8, 8, 2)), np.zeros((1, 8, 8, 2)))
    with pytest.raises(DataError, match="window"):
        ssim(np.zeros((1, 8, 8)), np.zeros((1, 8, 8)))
    with pytest.raises(DataError, match="data_range"):
        psnr(x, x, data_range=0)


@pytest.mark.parametrize("f, before, after", [(2, 0, 1), (2, 0, 0), (3, 1, 1), (4, 1, 2)])
def test_fused_load_and_pool_equals_padding_and_block_means(f, before, after):
    """load_pooled_into (HaarPSI's and MDSI's first pass, and pool_mean_into's body) against numpy: the scaled
    planes zero-padded, cut into f x f blocks and averaged, each block row's sum scaled before the rows add
    up, the order of the kernel; equal to the last bit, edges and odd sides included."""
    from medsynth.metrics._filters import load_pooled_into, pool_mean_into

    img = np.random.default_rng(f).integers(0, 256, (23, 30, 3), dtype=np.uint8)
    planes = img.transpose(2, 0, 1) * (1 / 255)
    padded = np.pad(planes, ((0, 0), (before, after), (before, after)))
    ho, wo = padded.shape[1] // f, padded.shape[2] // f
    blocks = padded[:, : ho * f, : wo * f].reshape(3, ho, f, wo, f)
    expected = np.zeros((3, ho, wo))
    for a in range(f):  # the kernel's order: each window row summed, scaled by 1/f^2, then added
        row_sum = blocks[:, :, a, :, 0].copy()
        for b in range(1, f):
            row_sum += blocks[:, :, a, :, b]
        expected += row_sum * (1.0 / (f * f))
    fused = np.empty((3, ho, wo))
    load_pooled_into(img, 1 / 255, f, before, after, fused)
    np.testing.assert_array_equal(fused, expected)
    pooled = np.empty((3, ho, wo))
    pool_mean_into(np.ascontiguousarray(planes), f, before, after, pooled)
    np.testing.assert_array_equal(pooled, expected)


@pytest.mark.parametrize("alpha", [4.2, 0.3, 37.0, -2.0, 0.0])
def test_haarpsi_logistic_row_matches_numpy(alpha):
    """HaarPSI's vectorised logistic (Taylor series and squarings, no libm exp) against numpy's exp, on
    similarities in [0, 1] and values far outside them, including ones whose exp overflows."""
    from medsynth.metrics.haarpsi import _logistic_row

    values = np.concatenate([np.linspace(0.0, 1.0, 101), [-3.0, 2.5, 25.0, -40.0]])
    for row in (values[:101], values):
        got = row.copy()
        got_tail = np.full(3, 7.0)  # entries past n are not touched
        buffer = np.concatenate([got, got_tail])
        _logistic_row(buffer, len(row), alpha)
        with np.errstate(over="ignore"):
            want = 1.0 / (1.0 + np.exp(-alpha * row))
        squarings = max(0, int(np.ceil(np.log2(max(np.abs(alpha * row).max(), 0.5) / 0.5))))
        rtol = 4 * 2**squarings * np.finfo(np.float64).eps  # each squaring doubles the relative error
        np.testing.assert_allclose(buffer[: len(row)], want, rtol=rtol, atol=1e-300)
        np.testing.assert_array_equal(buffer[len(row) :], got_tail)
