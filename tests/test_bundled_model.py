"""The bundled models (the default isic2017-64, and isic2017-128): each ships, loads by name, has a valid
card, is deterministic, makes every class, and its classes differ as the real classes do (conditioning
works)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from medsynth import Generator
from medsynth.cli import main
from medsynth.registry import DEFAULT_MODEL, REGISTRY

ISIC = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017"
CLASSES = ("nevus", "melanoma", "seborrheic_keratosis")


BUNDLED = {"isic2017-64": 64, "isic2017-128": 128}  # name -> image size
# the known defect of isic2017-128 (issue 11): thin straight strokes on plain skin, visible at 4x, which put
# the power of a few frequencies far above the real images' (peak ratio 28 against the val split)
LINE_ARTEFACTS = pytest.mark.xfail(
    strict=True, reason="isic2017-128 paints straight strokes on the skin (spectral peak ratio 28, issue 11)"
)


@pytest.fixture(scope="module", params=list(BUNDLED))
def gen(request: pytest.FixtureRequest) -> Generator:
    return Generator.load(request.param, device="cpu")


def test_default_model_is_registered_and_shipped() -> None:
    assert DEFAULT_MODEL == "isic2017-64"
    for name in BUNDLED:
        entry = REGISTRY.get(name)
        path = REGISTRY.path(entry)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
        assert path.stat().st_size < 20 * 2**20


def test_card_says_what_the_model_is(gen: Generator) -> None:
    card = gen.card
    assert card.name in BUNDLED
    assert tuple(card.classes) == CLASSES
    assert (card.image_size, card.channels, card.photometric) == (BUNDLED[card.name], 3, "RGB")
    assert card.modality == "XC"
    prov = card.provenance
    assert prov["images_per_class"] == {"nevus": 1372, "melanoma": 374, "seborrheic_keratosis": 254}
    assert "ISIC" in prov["dataset"] and "CC-0" in prov["dataset_license"]
    assert len(prov["train_manifest_sha256"]) == 64 and prov["wall_time_s"] > 0
    assert "/" not in str(prov.get("config", {}).get("data", ""))  # no file paths in the card
    assert "not for diagnosis" in card.intended_use
    metrics = card.metrics
    assert set(metrics["per_class"]) == set(CLASSES)
    assert metrics["overall"]["fd"]["value"] > 0
    assert "memorization" in metrics


def test_generation_is_deterministic_and_batch_independent(gen: Generator) -> None:
    a, la = gen.generate(12, "melanoma", seed=3, batch_size=12)
    b, lb = gen.generate(12, "melanoma", seed=3, batch_size=5)
    side = gen.card.image_size
    assert a.dtype == np.uint8 and a.shape == (12, side, side, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, np.full(12, 1))
    c, _ = gen.generate(12, "melanoma", seed=4)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 5  # another seed gives other images


def _colour_stats(images: np.ndarray) -> np.ndarray:
    """Per image: mean and standard deviation of R, G, B."""
    f = images.reshape(len(images), -1, 3).astype(np.float64)
    return np.concatenate([f.mean(1), f.std(1)], axis=1)


@pytest.fixture(scope="module")
def per_class_stats(gen: Generator) -> dict[str, np.ndarray]:
    return {c: _colour_stats(gen.generate(150, c, seed=0)[0]) for c in CLASSES}


def test_every_class_is_produced_and_varied(per_class_stats: dict[str, np.ndarray]) -> None:
    for cls, stats in per_class_stats.items():
        # no collapse: images of one class differ from each other (spread of mean brightness across images)
        assert stats[:, :3].mean(1).std() > 3.0, cls


SK_CONTRAST = pytest.mark.xfail(
    strict=True,
    reason="isic2017-128's seborrheic keratoses have more red "
    "contrast than its nevi; real ones have less (Welch t 15.6, 150 of each; "
    "issue 11)",
)


def test_conditioning_changes_the_images(per_class_stats: dict[str, np.ndarray]) -> None:
    """Every pair of classes differs in colour statistics far beyond sampling noise (Welch t, 150 images)."""
    for i, a in enumerate(CLASSES):
        for b in CLASSES[i + 1 :]:
            x, y = per_class_stats[a], per_class_stats[b]
            t = (x.mean(0) - y.mean(0)) / np.sqrt(x.var(0) / len(x) + y.var(0) / len(y))
            assert np.abs(t).max() > 5.0, (a, b, t)


@pytest.fixture(scope="module")
def real_train(gen: Generator) -> dict[str, np.ndarray]:
    """Up to 150 real ISIC 2017 training images per class at the model's size (skips without the data)."""
    side = gen.card.image_size
    if not ISIC.is_dir():
        pytest.skip("../shared/data/isic2017 is not present")
    from PIL import Image

    from medsynth.imageset.resize import fit_image  # the resize policy the models were trained through

    with (ISIC / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    real: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    for row in rows:
        if row["split"] == "train" and len(real[row["diagnosis"]]) < 150:
            with Image.open(ISIC / row["path"]) as im:
                rgb = fit_image(im.convert("RGB"), side, side)
                real[row["diagnosis"]].append(np.asarray(rgb))
    return {c: np.stack(v) for c, v in real.items()}


def test_class_differences_follow_the_real_data(
    per_class_stats: dict[str, np.ndarray],
    real_train: dict[str, np.ndarray],
    gen: Generator,
    request: pytest.FixtureRequest,
) -> None:
    """Oracle: the real ISIC images. Where two real classes differ clearly in a colour statistic, the
    synthetic classes differ in the same direction."""
    if gen.card.name == "isic2017-128":
        request.applymarker(SK_CONTRAST)
    real_stats = {c: _colour_stats(v) for c, v in real_train.items()}
    checked = 0
    for i, a in enumerate(CLASSES):
        for b in CLASSES[i + 1 :]:
            x, y = real_stats[a], real_stats[b]
            t_real = (x.mean(0) - y.mean(0)) / np.sqrt(x.var(0) / len(x) + y.var(0) / len(y))
            d_syn = per_class_stats[a].mean(0) - per_class_stats[b].mean(0)
            for k in np.flatnonzero(np.abs(t_real) > 4.0):
                assert np.sign(d_syn[k]) == np.sign(t_real[k]), (a, b, k, t_real[k], d_syn[k])
                checked += 1
    assert checked > 0


def test_generate_without_model_uses_the_bundled_one(tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    result = CliRunner().invoke(
        main, ["generate", "--class", "melanoma", "--n", "5", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert len(list((out / "melanoma").glob("*.png"))) == 5
    manifest = (out / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 6 and REGISTRY.get(DEFAULT_MODEL).sha256 in manifest[1]


def test_no_periodic_artefact_in_the_power_spectrum(
    gen: Generator,
    real_train: dict[str, np.ndarray],
    synthetic_like_real: np.ndarray,
    request: pytest.FixtureRequest,
) -> None:
    """Oracle: the real images' mean power spectrum. The first bundled model painted a dot lattice with
    34x the real power at (1/4, 1/4) cycles/pixel; real against real stays below 2 (metrics.spectrum)."""
    from medsynth.metrics.spectrum import spectral_comparison

    if gen.card.name == "isic2017-128":
        request.applymarker(LINE_ARTEFACTS)
    result = spectral_comparison(np.concatenate(list(real_train.values())), synthetic_like_real)
    assert result.peak_ratio < 6.0, result.as_dict()
    assert result.log_spectral_distance_db < 3.0, result.as_dict()


# issue 11, item 5: no bundled model is free of specks yet. Against 150 real training images per class, 97% of
# isic2017-64's images and 99.8% of isic2017-128's hold a pixel more isolated than nine real images in ten do
# (ratio about 10; ISIC's real val split against its train split gives 2.3).
SPECKS = pytest.mark.xfail(
    strict=True, reason="the bundled models paint isolated off-colour pixels (ratio about 10, issue 11)"
)


@pytest.fixture(scope="module")
def synthetic_like_real(gen: Generator, real_train: dict[str, np.ndarray]) -> np.ndarray:
    """As many synthetic images per class as real_train holds (seed 3)."""
    return np.concatenate([gen.generate(len(real_train[c]), c, seed=3)[0] for c in CLASSES])


@SPECKS
def test_no_more_isolated_off_colour_pixels_than_real_images(
    real_train: dict[str, np.ndarray], synthetic_like_real: np.ndarray
) -> None:
    """Oracle: the real images' own specks (medsynth.metrics.isolated_pixels): no more synthetic images hold
    a pixel unlike all of its neighbours than another real split does (ratio below 3)."""
    from medsynth.metrics.isolated_pixels import isolated_pixel_comparison

    result = isolated_pixel_comparison(np.concatenate(list(real_train.values())), synthetic_like_real)
    assert result.ratio < 3.0, result.as_dict()


# issue 11, item 5: both bundled models share fine marks at fixed places inside the image (a dark spot near
# the centre, strokes), per class 2.8-3.2x (isic2017-64) and 7.0-12.4x (isic2017-128) the real images' own,
# where 150 real training images against the next 150 give 0.82-1.29 (medsynth.metrics.fixed_mark)
FIXED_MARKS = pytest.mark.xfail(
    strict=True, reason="the bundled models paint fine marks at fixed places (ratio 2.8-12.4, issue 11)"
)


@FIXED_MARKS
def test_no_fine_mark_shared_by_many_images_at_one_place(
    gen: Generator, real_train: dict[str, np.ndarray]
) -> None:
    """Oracle: the real images' own shared fine structure, per class, away from the edges (where real
    dermoscopy shares its frame): the synthetic images' mean high-pass luma peaks below twice the real one."""
    from medsynth.metrics.fixed_mark import fixed_mark_comparison

    results = {
        c: fixed_mark_comparison(real_train[c], gen.generate(len(real_train[c]), c, seed=3)[0]).as_dict()
        for c in CLASSES
    }
    assert all(r["ratio"] < 2.0 for r in results.values()), results
