"""The arms of the utility benchmark as data, and the training set each one gets.

Every arm is scored on the same real validation split with the same classifier recipe and the same number of
steps; they differ only in the images the classifier learns from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from medsynth.balance import plan_balance
from medsynth.errors import ArgumentError

__all__ = [
    "Arm",
    "ARMS",
    "DEFAULT_ARMS",
    "FILTERED",
    "get_arms",
    "ratio_arm",
    "class_arm",
    "synthetic_count",
    "synthetic_needed",
    "training_set",
]


@dataclass(frozen=True)
class Arm:
    """One way of building the classifier's training set."""

    key: str  # the name passed to --arms
    label: str  # the row label in tables and plots
    description: str  # one line for the JSON and the docs
    ratio: float = 1.0  # real + ratio x each class's shortfall of synthetic images (arms "ratio:R")
    filtered: bool = False  # the synthetic images passed the real-trained classifier's filter (--filter)
    class_weighted: bool = False  # an imbalanced training set: the loss weighs classes by N / (K * N_c)
    then_real: bool = False  # the second half of the steps trains on the real train split alone
    domain_adversarial: bool = False  # features learn to confuse a class-conditional domain head
    builds_like: str = ""  # the key of the arm whose training set this one uses, if not its own
    only_class: str = ""  # arms "doubled:CLASS": synthetic images of this class alone

    @property
    def set_key(self) -> str:
        """The key that decides the training set: :attr:`builds_like`, else :attr:`key`."""
        return self.builds_like or self.key


ARMS: tuple[Arm, ...] = (
    Arm(
        "real",
        "(a) real",
        "the real train split as it is (imbalanced), with a class-weighted loss",
        class_weighted=True,
    ),
    Arm(
        "balanced",
        "(b) real+synthetic",
        "the real train split plus synthetic images of every class up to "
        "the largest class (plan_balance(counts, 'max'))",
    ),
    Arm(
        "synthetic",
        "(c) synthetic only",
        "synthetic images only, as many per class as arm (b) has (train on synthetic, test on real)",
    ),
    Arm(
        "oversampled",
        "(d) real oversampled",
        "control for (b): the real train split with the same "
        "per-class totals as (b), reached by drawing real images again (with replacement) instead of "
        "generating",
    ),
    Arm(
        "mixed",
        "(e) real oversampled+synthetic",
        "(b)'s per-class totals reached half by synthetic images "
        "(the smaller half) and half by drawing real images again: synthetic images as extra variety for a "
        "class whose real images are also there in proportion",
    ),
    Arm(
        "doubled",
        "(g) real+synthetic, every class",
        "the real train split plus as many synthetic images of each class as it has real ones, with the "
        "class-weighted loss of (a): the same synthetic share in every class, so that looking synthetic "
        "says nothing about the class (in (b) only the rare classes hold synthetic images)",
        class_weighted=True,
    ),
    Arm(
        "staged",
        "(h) real+synthetic, then real",
        "pre-training then fine-tuning: the first half of the steps on (g)'s set (the real train split "
        "plus as many synthetic images of each class as it has real ones), the second half on the real "
        "train split alone, one model, optimiser and schedule, class-weighted loss throughout: the "
        "classifier's last steps see only real images, so no shortcut through looking synthetic survives",
        class_weighted=True,
        then_real=True,
    ),
    Arm(
        "balanced-dann",
        "(i) real+synthetic, domain-adversarial",
        "(b)'s set, trained beside a class-conditional domain head that learns on the pooled features "
        "which images of a class are synthetic, while the features learn to confuse it (its output pushed to "
        "1/2): real and synthetic images of a class are made indistinguishable to the classifier, so looking "
        "synthetic stops being a cue",
        domain_adversarial=True,
        builds_like="balanced",
    ),
    Arm(
        "doubled-dann",
        "(j) real+synthetic, every class, domain-adversarial",
        "(g)'s set and class-weighted loss, trained beside (i)'s class-conditional domain head",
        class_weighted=True,
        domain_adversarial=True,
        builds_like="doubled",
    ),
)
DEFAULT_ARMS = ("real", "oversampled", "balanced", "mixed")
_BY_KEY = {arm.key: arm for arm in ARMS}
FILTERED = Arm(
    "filtered",
    "(f) real+filtered synthetic",
    "as (b), but only synthetic images that a "
    "classifier trained on the real train split (arm (a), same seed) does not assign to another "
    "class with confidence above the --filter threshold",
    filtered=True,
)
MAX_RATIO = 20.0


def ratio_arm(ratio: float) -> Arm:
    """The arm "ratio:R": the real train split plus R times each class's shortfall in synthetic images."""
    if not (0.0 < ratio <= MAX_RATIO and math.isfinite(ratio)):
        raise ArgumentError(f"--synthetic-ratio values must be in (0, {MAX_RATIO:g}], got {ratio}")
    return Arm(
        f"ratio:{ratio:g}",
        f"(r) real+{ratio:g}x synthetic",
        f"the real train split plus {ratio:g} "
        "times each class's shortfall (to the largest class) in synthetic images, with the class-weighted "
        "loss of (a): below R = 1 the set is still imbalanced, and without the weights the arm would lose "
        "minority recall to the prior, not to the synthetic images",
        ratio=ratio,
        class_weighted=True,
    )


CLASS_ARM_BASES = ("doubled", "balanced")  # the arms that take ":CLASS"


def class_arm(base: str, cls: str) -> Arm:
    """The arm "doubled:CLASS" or "balanced:CLASS": synthetic images in class ``cls`` alone.

    "doubled:CLASS" is (g) with synthetic images of that class alone. Only that class holds synthetic images,
    so looking synthetic predicts it, as in (b): the arm measures how far that class's synthetic images are
    from its real ones as the classifier sees them (its recall of the real images of that class falls as far
    as they are), one class at a time.

    "balanced:CLASS" is (b)'s totals with that class's shortfall filled by synthetic images and every other
    class's by real images drawn again, as in (d): balancing with synthetic images only where they help, the
    way a user would once the per-class arms have said where that is. It is compared with (d).
    """
    if not cls:
        raise ArgumentError(f"--arms {base}:CLASS needs a class name after the colon")
    if base == "balanced":
        return Arm(
            f"balanced:{cls}",
            f"(d) real oversampled, synthetic {cls}",
            f"(b)'s per-class totals, {cls}'s shortfall filled with synthetic images and every other "
            "class's with real images drawn again (as in (d)): synthetic images only in the class named",
            builds_like="balanced",
            only_class=cls,
        )
    return Arm(
        f"doubled:{cls}",
        f"(g) real+synthetic {cls} only",
        f"the real train split plus as many synthetic {cls} images as it has real ones and no synthetic "
        "images of the other classes, with (a)'s class-weighted loss: looking synthetic predicts this class, "
        "so its recall on real images falls as far as its synthetic images are unlike its real ones",
        class_weighted=True,
        builds_like="doubled",
        only_class=cls,
    )


def get_arms(keys: tuple[str, ...] | list[str]) -> tuple[Arm, ...]:
    """The arms named by ``keys``: those of :data:`ARMS` in that order, then "ratio:R" arms by ratio, then
    "doubled:CLASS" and "balanced:CLASS" arms in the order given, then "filtered".

    Raises
    ------
    ArgumentError
        An unknown or repeated key, a bad ratio, or no key at all.
    """
    prefixes = tuple(f"{base}:" for base in CLASS_ARM_BASES)
    known = [*_BY_KEY, "ratio:R", *(f"{p}CLASS" for p in prefixes), FILTERED.key]
    unknown = [
        k for k in keys if k not in _BY_KEY and k != FILTERED.key and not k.startswith(("ratio:", *prefixes))
    ]
    if unknown or not keys or len(set(keys)) != len(keys):
        raise ArgumentError(
            f"--arms takes distinct names from {', '.join(known)}, got {', '.join(keys) or 'none'}"
        )
    ratios = []
    for k in keys:
        if k.startswith("ratio:"):
            try:
                ratios.append(ratio_arm(float(k[len("ratio:") :])))
            except ValueError as exc:
                raise ArgumentError(f"--synthetic-ratio values must be numbers, got {k!r}") from exc
    fixed = tuple(arm for arm in ARMS if arm.key in keys)
    per_class = tuple(class_arm(*k.split(":", 1)) for k in keys if k.startswith(prefixes))
    return (
        fixed
        + tuple(sorted(ratios, key=lambda a: a.ratio))
        + per_class
        + ((FILTERED,) if FILTERED.key in keys else ())
    )


def synthetic_count(arm: Arm, cls: str, count: int, shortfall: int) -> int:
    """How many synthetic images of class ``cls`` (``count`` real images, ``shortfall`` to the largest class)
    ``arm``'s training set holds."""
    key = arm.set_key
    if arm.only_class not in ("", cls):  # "doubled:CLASS", "balanced:CLASS": the other classes hold none
        return 0
    if key == "synthetic":
        return count + shortfall
    if key in ("doubled", "staged"):
        return count
    if key in ("balanced", "filtered"):
        return shortfall
    if key == "mixed":
        return shortfall // 2
    if key.startswith("ratio:"):
        return int(round(arm.ratio * shortfall))
    return 0


def synthetic_needed(arms: tuple[Arm, ...], counts: Mapping[str, int]) -> dict[str, int]:
    """Synthetic images of each class that the arms need (arm (b)'s are the first ones of arm (c)'s).

    Parameters
    ----------
    arms
        The arms of the run.
    counts
        Real training images per class.

    Returns
    -------
    dict[str, int]
        Images to generate per class (0 where none is needed).
    """
    plan = plan_balance(counts)
    out = {c: 0 for c in counts}
    for arm in arms:
        if arm.filtered:
            continue  # drawn separately, after the filter (see benchmark.filtered_synthetic)
        for c in counts:
            out[c] = max(out[c], synthetic_count(arm, c, counts[c], plan[c]))
    return out


def training_set(
    arm: Arm,
    real_images: np.ndarray,
    real_labels: np.ndarray,
    classes: tuple[str, ...],
    synthetic: Mapping[str, np.ndarray],
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The images and labels ``arm`` trains on, and which of them are synthetic.

    Parameters
    ----------
    arm
        The arm.
    real_images, real_labels
        The real train split: uint8 (N, H, W, C) and int64 class indices into ``classes``.
    classes
        Class names in label order.
    synthetic
        Class name -> uint8 synthetic images of that class (at least as many as the arm needs; image ``i``
        is the generator's image ``i`` of that class under this seed).
    seed
        Seeds the draws of the oversampled arm.

    Returns
    -------
    images : numpy.ndarray
        uint8 (M, H, W, C): the real split class by class (unless the arm is synthetic only), then per class
        the real images drawn again (oversampled, mixed, balanced:CLASS) and the synthetic ones.
    labels : numpy.ndarray
        int64 (M,).
    is_synthetic : numpy.ndarray
        bool (M,).
    """
    if arm.set_key == "real":
        return real_images, real_labels, np.zeros(len(real_labels), dtype=bool)
    counts = {c: int((real_labels == k).sum()) for k, c in enumerate(classes)}
    plan = plan_balance(counts)
    n_syn = {c: synthetic_count(arm, c, counts[c], plan[c]) for c in classes}
    parts: list[tuple[np.ndarray, int, bool]] = []  # (images, label, synthetic)
    if arm.set_key != "synthetic":
        parts += [(real_images[real_labels == k], k, False) for k in range(len(classes))]
    rng = np.random.default_rng(seed)
    for k, c in enumerate(classes):
        # the rest of a balanced set's shortfall: real images of the class drawn again
        redrawn = plan[c] - n_syn[c] if arm.set_key in ("balanced", "oversampled", "mixed") else 0
        if redrawn:
            members = np.flatnonzero(real_labels == k)
            parts.append((real_images[rng.choice(members, size=redrawn, replace=True)], k, False))
        if n_syn[c]:
            parts.append((synthetic[c][: n_syn[c]], k, True))
    images = np.concatenate([p for p, _, _ in parts])
    labels = np.concatenate([np.full(len(p), k, dtype=np.int64) for p, k, _ in parts])
    is_synthetic = np.concatenate([np.full(len(p), syn) for p, _, syn in parts])
    return images, labels, is_synthetic
