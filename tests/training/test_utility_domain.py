"""Domain-adversarial arms of the utility benchmark: the gradient-reversal layer against autograd, the
schedule and the per-cell weights against their formulas, the arms' training sets, and a toy set whose
synthetic images carry a blatant mark, on which a held-out logistic regression (scikit-learn) tells the
features of synthetic from real images less well after domain-adversarial training than after plain training.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from medsynth.errors import ArgumentError
from medsynth.training.downstream.arms import ARMS, get_arms, synthetic_needed, training_set
from medsynth.training.downstream.classifier import (
    ClassifierConfig,
    predict_proba,
    to_tensor,
    train_classifier,
)
from medsynth.training.downstream.domain import (
    DomainHead,
    adversary_scale,
    domain_losses,
    domain_sample_weights,
)

CLASSES = ("nevus", "melanoma", "seborrheic_keratosis")


def test_adversary_scale_follows_ganins_schedule():
    assert adversary_scale(0.0) == 0.0
    for p in (0.1, 0.25, 0.5, 0.9):
        assert adversary_scale(p) == pytest.approx(2 / (1 + math.exp(-10 * p)) - 1)
    assert adversary_scale(2.0) == adversary_scale(1.0) == pytest.approx(0.9999092, abs=1e-7)
    assert adversary_scale(-1.0) == 0.0


def test_domain_weights_give_each_cell_the_same_total_and_skip_one_domain_classes():
    labels = np.array([0, 0, 0, 1, 1, 2, 2])
    synthetic = np.array([False, False, True, False, True, False, False])
    w = domain_sample_weights(labels, synthetic, 3)
    # classes 0 and 1 hold both domains (5 images in 4 cells): each cell sums to 5 / 4; class 2 only real
    np.testing.assert_allclose(w, [5 / 8, 5 / 8, 5 / 4, 5 / 4, 5 / 4, 0, 0], rtol=1e-6)
    assert w[:5].mean() == pytest.approx(1.0)
    np.testing.assert_array_equal(domain_sample_weights(labels, np.zeros(7, bool), 3), np.zeros(7))
    with pytest.raises(ValueError, match="same shape"):
        domain_sample_weights(labels, synthetic[:3], 3)


def _logits(head: DomainHead, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The head's logits written out by hand: hidden layer, ReLU, output, each image's own class."""
    return head.out(torch.relu(head.hidden(f)))[torch.arange(len(y)), y]


def _bce(logits: torch.Tensor, target: torch.Tensor | float) -> torch.Tensor:
    """Binary cross-entropy against ``target`` (a bool tensor, or 1/2 for the confusion target)."""
    t = target.float() if isinstance(target, torch.Tensor) else torch.full_like(logits, target)
    logsig = torch.nn.functional.logsigmoid
    return -(t * logsig(logits) + (1 - t) * logsig(-logits))


def test_domain_head_reads_each_images_own_class_and_each_loss_trains_only_its_part():
    torch.manual_seed(0)
    head = DomainHead(6, 3)
    f, y = torch.randn(4, 6, requires_grad=True), torch.tensor([2, 0, 1, 2])
    torch.testing.assert_close(head(f, y), _logits(head, f, y))
    synthetic, weights = torch.tensor([True, False, True, False]), torch.tensor([2.0, 0.0, 1.0, 1.0])
    logits = _logits(head, f, y).detach()
    loss = domain_losses(head, f, y, synthetic, weights, 0.3)
    torch.testing.assert_close(loss, (weights * (_bce(logits, synthetic) + 0.3 * _bce(logits, 0.5))).mean())
    # the head learns only from "told" (its features detached), the features only from "confused"
    grads = torch.autograd.grad(loss, [f, head.out.weight])
    want_f = torch.autograd.grad((weights * 0.3 * _bce(_logits(head, f, y), 0.5)).mean(), f)[0]
    told = (weights * _bce(_logits(head, f.detach(), y), synthetic)).mean()
    want_w = torch.autograd.grad(told, head.out.weight)[0]
    torch.testing.assert_close(grads[0], want_f)
    torch.testing.assert_close(grads[1], want_w)


def test_dann_arms_build_their_base_arms_sets():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), [7, 3, 2])
    images = rng.integers(0, 255, (12, 4, 4, 3), dtype=np.uint8)
    synthetic = {c: np.full((7, 4, 4, 3), 200 + k, dtype=np.uint8) for k, c in enumerate(CLASSES)}
    by_key = {a.key: a for a in ARMS}
    counts = dict(zip(CLASSES, (7, 3, 2), strict=True))
    for dann, base in (("balanced-dann", "balanced"), ("doubled-dann", "doubled")):
        arm = by_key[dann]
        assert arm.domain_adversarial and arm.set_key == base
        assert arm.class_weighted == by_key[base].class_weighted
        assert synthetic_needed((arm,), counts) == synthetic_needed((by_key[base],), counts)
        got = training_set(arm, images, labels, CLASSES, synthetic, seed=0)
        want = training_set(by_key[base], images, labels, CLASSES, synthetic, seed=0)
        for got_part, want_part in zip(got, want, strict=True):
            np.testing.assert_array_equal(got_part, want_part)
        np.testing.assert_array_equal(
            got[2], (got[0] >= 200).all(axis=(1, 2, 3))
        )  # synthetic pixels are 200+
    assert get_arms(["real", "doubled-dann", "balanced-dann"])[1].key == "balanced-dann"  # ARMS order
    with pytest.raises(ArgumentError, match="do not combine"):
        config = ClassifierConfig(network="small-cnn", width=4, blocks=2, epochs=1, batch_size=4)
        train_classifier(
            images, labels, 3, 2, config, 0, finish_on=(images, labels), synthetic=np.zeros(12, bool)
        )


def _marked_set(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two classes told apart by brightness; the synthetic images of class 1 also carry a checkerboard."""
    checker = (np.indices((8, 8)).sum(axis=0) % 2 * 2 - 1)[:, :, None] * 45.0
    parts, labels, synthetic = [], [], []
    for cls, mean, n, marked in ((0, 90.0, 64, False), (1, 150.0, 16, False), (1, 150.0, 48, True)):
        x = mean + rng.normal(0.0, 25.0, (n, 8, 8, 3)) + (checker if marked else 0.0)
        parts.append(np.clip(x, 0, 255).astype(np.uint8))
        labels += [cls] * n
        synthetic += [marked] * n
    return np.concatenate(parts), np.array(labels), np.array(synthetic)


def test_domain_adversarial_training_hides_the_synthetic_mark_from_the_features():
    images, labels, synthetic = _marked_set(np.random.default_rng(0))
    config = ClassifierConfig(network="small-cnn", width=8, blocks=2, epochs=1, batch_size=16, lr=1e-2)

    def domain_auc(model: torch.nn.Module) -> float:
        """Held-out AUC of a logistic regression telling class 1's synthetic from its real features."""
        with torch.no_grad():
            features = model[:-1](to_tensor(images[labels == 1])).numpy()
        target = synthetic[labels == 1]
        scores = cross_val_predict(
            LogisticRegression(max_iter=2000), features, target, cv=4, method="decision_function"
        )
        return float(roc_auc_score(target, scores))

    plain_auc, dann_auc = [], []
    for seed in range(3):
        plain = train_classifier(images, labels, 2, 600, config, seed=seed)
        dann = train_classifier(images, labels, 2, 600, config, seed=seed, synthetic=synthetic)
        for model in (plain, dann):  # both still classify: brightness is the real cue
            assert (predict_proba(model, images).argmax(axis=1) == labels).mean() > 0.95
        plain_auc.append(domain_auc(plain))
        dann_auc.append(domain_auc(dann))
    # measured: plain 0.996 / 0.426 / 1.0, domain-adversarial 0.659 / 0.314 / 0.970
    assert all(d < p for p, d in zip(plain_auc, dann_auc, strict=True)), (plain_auc, dann_auc)
    assert np.mean(plain_auc) - np.mean(dann_auc) > 0.1, (plain_auc, dann_auc)
    again = train_classifier(images, labels, 2, 600, config, seed=2, synthetic=synthetic)
    np.testing.assert_array_equal(predict_proba(dann, images), predict_proba(again, images))


def _small_split(seed: int, high: int, fill: int) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """12 real images of the three classes (7 / 3 / 2) with values below ``high``, their labels, 7 synthetic
    images per class all of value ``fill + k`` for class ``k`` (each says where it came from), the counts."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), [7, 3, 2])
    images = rng.integers(0, high, (12, 4, 4, 3), dtype=np.uint8)
    synthetic = {c: np.full((7, 4, 4, 3), fill + k, dtype=np.uint8) for k, c in enumerate(CLASSES)}
    return images, labels, synthetic, dict(zip(CLASSES, (7, 3, 2), strict=True))


def test_a_class_arm_adds_synthetic_images_to_that_class_alone():
    images, labels, synthetic, counts = _small_split(0, 255, 200)
    (arm,) = get_arms(["doubled:melanoma"])
    assert arm.class_weighted and arm.set_key == "doubled" and arm.only_class == "melanoma"
    assert synthetic_needed((arm,), counts) == {"nevus": 0, "melanoma": 3, "seborrheic_keratosis": 0}
    got_images, got_labels, is_synthetic = training_set(arm, images, labels, CLASSES, synthetic, seed=0)
    np.testing.assert_array_equal(np.bincount(got_labels), [7, 6, 2])
    assert (got_images[12:] == 201).all() and (got_labels[12:] == 1).all()  # three synthetic melanomas
    np.testing.assert_array_equal(is_synthetic, np.arange(15) >= 12)
    keys = [a.key for a in get_arms(["doubled:seborrheic_keratosis", "real", "doubled:melanoma"])]
    assert keys == ["real", "doubled:seborrheic_keratosis", "doubled:melanoma"]
    with pytest.raises(ArgumentError, match="needs a class name"):
        get_arms(["doubled:"])


def test_a_balanced_class_arm_is_the_oversampled_set_with_that_class_s_redraws_made_synthetic():
    images, labels, synthetic, counts = _small_split(1, 200, 250)
    (arm,) = get_arms(["balanced:seborrheic_keratosis"])
    (control,) = get_arms(["oversampled"])
    assert not arm.class_weighted and arm.set_key == "balanced"  # balanced totals, as (d)
    assert synthetic_needed((arm,), counts) == {"nevus": 0, "melanoma": 0, "seborrheic_keratosis": 5}
    got, got_labels, is_synthetic = training_set(arm, images, labels, CLASSES, synthetic, seed=3)
    want, want_labels, _ = training_set(control, images, labels, CLASSES, synthetic, seed=3)
    np.testing.assert_array_equal(np.bincount(got_labels), [7, 7, 7])
    np.testing.assert_array_equal(got_labels, want_labels)
    melanoma_redraws = slice(12, 16)  # the same real images drawn again as in (d), with the same seed
    np.testing.assert_array_equal(got[melanoma_redraws], want[melanoma_redraws])
    assert not is_synthetic[:16].any() and (got[16:] == 252).all() and is_synthetic[16:].all()
    with pytest.raises(ArgumentError, match="balanced:CLASS needs a class name"):
        get_arms(["balanced:"])
