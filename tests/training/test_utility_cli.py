"""``medsynth utility`` end to end on a tiny colour-coded data set and a tiny ONNX generator, the training-set
arithmetic of every arm, determinism of the recipe, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from training_helpers import class_tree

from medsynth.balance import plan_balance
from medsynth.cli import main
from medsynth.training.utility.arms import ARMS, synthetic_needed, training_set
from medsynth.training.utility.classifier import ClassifierConfig, predict_proba, train_classifier

CLASSES = ("nevus", "melanoma", "seborrheic_keratosis")  # the tiny test generator's classes
TRAIN = {"nevus": 24, "melanoma": 8, "seborrheic_keratosis": 6}
FAST = ["--image-size", "16", "--width", "8", "--epochs", "40", "--seeds", "1", "--bootstrap", "200",
        "--threads", "1", "--quiet"]


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
    result = _run("--real", colour_data, "--model", tiny_model, "--out", out, *FAST)
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
            "total": 24, "real": TRAIN[cls], "synthetic": plan[cls], "redrawn_real": 0}
        assert doc["arms"]["synthetic"]["training_set"][cls] == {
            "total": 24, "real": 0, "synthetic": 24, "redrawn_real": 0}
    assert doc["steps"] == 40  # every arm: epochs x ceil(38 real images / 64)
    real = doc["arms"]["real"]
    assert len(real["per_seed"]) == 1 and real["std"] is None
    assert set(real["mean"]) == {"balanced_accuracy", "macro_auroc", "recall", "auroc"}
    assert real["mean"]["balanced_accuracy"] == real["per_seed"][0]["balanced_accuracy"]
    for key in ("balanced_accuracy", "macro_auroc"):
        assert real["interval"]["low"][key] <= real["mean"][key] <= real["interval"]["high"][key]
    assert real["mean"]["balanced_accuracy"] > 0.8  # chance is 1/3: the colours are learnt
    diff = doc["differences"]["balanced"]
    assert diff["mean"]["balanced_accuracy"] == pytest.approx(
        doc["arms"]["balanced"]["mean"]["balanced_accuracy"] - real["mean"]["balanced_accuracy"], abs=1e-5)
    assert diff["interval"]["low"]["balanced_accuracy"] <= diff["interval"]["high"]["balanced_accuracy"]
    assert doc["wall_time_s"] > 0 and doc["model"]["sha256"]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["arm", "balanced", "acc"]
    assert any(line.startswith("(b) real+synthetic - (a) real") for line in lines)

    again = _run("--real", colour_data, "--model", tiny_model, "--out", out, *FAST)  # overwrite own output
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
    for key in ("balanced", "synthetic", "oversampled", "mixed"):
        np.testing.assert_array_equal(np.bincount(sets[key][1]), [7, 7, 7])
    balanced_images, balanced_labels = sets["balanced"]
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


def test_recipe_is_deterministic_given_the_seed():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (20, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(20) % 2
    config = ClassifierConfig(width=4, epochs=1, batch_size=8)

    def run(seed):
        return predict_proba(train_classifier(images, labels, 2, 5, config, seed), images)

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_user_errors_are_one_line(tmp_path, colour_data, tiny_model):
    out = ["--out", tmp_path / "out"]
    _one_line_error(_run("--real", tmp_path / "nowhere", "--model", tiny_model, *out, *FAST),
                    "does not exist")
    class_tree(tmp_path / "pets" / "train", {"cat": 2, "dog": 2})
    class_tree(tmp_path / "pets" / "val", {"cat": 2, "dog": 2})
    _one_line_error(_run("--real", tmp_path / "pets", "--model", tiny_model, *out, *FAST),
                    "['cat', 'dog']", "['nevus', 'melanoma', 'seborrheic_keratosis']")
    _one_line_error(_run("--real", colour_data / "train", "--model", tiny_model, *out, *FAST),
                    "no validation split", "--val PATH")
    _one_line_error(_run("--real", colour_data, "--model", "no-such-model", *out, *FAST), "no-such-model")
    _one_line_error(_run("--real", colour_data, "--model", tiny_model, "--arms", "real,bogus", *out, *FAST),
                    "--arms")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    _one_line_error(_run("--real", colour_data, "--model", tiny_model, "--out", tmp_path / "full", *FAST),
                    "is not empty")
