"""Domain-adversarial training of the utility benchmark's classifier, conditioned on the class.

A synthetic image that a two-sample test tells from real ones carries a cue of its own. Where only the rare
classes hold synthetic images, "looks synthetic" predicts the class, and a classifier that learns that cue
misfiles the real images of those classes (README, the utility section). A domain head on the classifier's
pooled features learns to tell synthetic from real images *within each class*, and the feature extractor is
trained, beside its class loss, to leave that head unable to: the adversarial idea of DANN (Ganin &
Lempitsky, ICML 2015).

Two choices differ from DANN's gradient-reversal layer:
- **Domain confusion** (Tzeng et al., ICCV 2015) for the features: they are pushed towards the head's
  output 1/2 (cross-entropy against the uniform target), not up the head's own loss. Measured on the toy set
  of tests/training/test_utility_domain.py: with the reversal layer the head's loss saturated within about
  150 steps, the reversed gradient vanished with it, and a held-out regression still told the marked images
  apart with AUC 1.0 (as after plain training); with the confusion loss it fell to 0.66.
- **Conditioning on the class**: in a balanced set only the rare classes hold synthetic images, so an
  unconditional head would learn the class itself and the features would be pushed to forget the class.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["DOMAIN_HIDDEN", "adversary_scale", "DomainHead", "domain_sample_weights", "domain_losses"]

DOMAIN_HIDDEN = 256  # units of the domain head's hidden layer


def adversary_scale(progress: float) -> float:
    """The confusion loss's weight at ``progress`` (0 to 1) through training: ``2 / (1 + exp(-10 p)) - 1``.

    DANN's schedule (Ganin et al., JMLR 2016): 0 at the start, while the domain head knows nothing, 0.76 at a
    quarter and 0.99 at half the steps.
    """
    return 2.0 / (1.0 + math.exp(-10.0 * min(max(progress, 0.0), 1.0))) - 1.0


class DomainHead(nn.Module):
    """Pooled features (N, F) and class labels (N,) -> one logit per image: "synthetic" for its own class.

    A hidden layer of :data:`DOMAIN_HIDDEN` ReLU units, then one output per class, of which each image's own
    class is read (as a projection discriminator reads its class).
    """

    def __init__(self, features: int, n_classes: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(features, DOMAIN_HIDDEN)
        self.out = nn.Linear(DOMAIN_HIDDEN, n_classes)

    def forward(self, features: torch.Tensor, labels: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """The logits; with ``frozen`` the head's own weights get no gradient (only ``features`` do)."""
        params = [self.hidden.weight, self.hidden.bias, self.out.weight, self.out.bias]
        if frozen:
            params = [q.detach() for q in params]
        h = nn.functional.relu(nn.functional.linear(features, params[0], params[1]))
        logits = nn.functional.linear(h, params[2], params[3])
        return logits.gather(1, labels.view(-1, 1)).squeeze(1)


def domain_sample_weights(labels: np.ndarray, synthetic: np.ndarray, n_classes: int) -> np.ndarray:
    """float32 (N,): each image's weight in the domain losses.

    Every (class, domain) cell of a class that holds both real and synthetic images gets the same total
    weight, so the head cannot score by predicting a class's majority domain; the weights average 1 over the
    images of those classes. A class with images of one domain only gets 0: there is nothing to tell apart.

    Raises
    ------
    ValueError
        ``labels`` and ``synthetic`` differ in length.
    """
    labels = np.asarray(labels, dtype=np.int64)
    synthetic = np.asarray(synthetic, dtype=bool)
    if labels.shape != synthetic.shape:
        raise ValueError(f"labels {labels.shape} and synthetic {synthetic.shape} must have the same shape")
    cells = np.zeros((n_classes, 2), dtype=np.int64)
    domain = synthetic.astype(np.int64)
    np.add.at(cells, (labels, domain), 1)
    both: np.ndarray = np.all(cells > 0, axis=1)
    n_weighted = cells[both].sum()
    weights = np.zeros(len(labels), dtype=np.float64)
    if n_weighted:
        per_cell = n_weighted / (2 * both.sum() * np.maximum(cells, 1))
        weights = np.where(both[labels], per_cell[labels, domain], 0.0)
    return weights.astype(np.float32)


def domain_losses(
    head: DomainHead,
    features: torch.Tensor,
    labels: torch.Tensor,
    synthetic: torch.Tensor,
    weights: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """The head's loss plus ``scale`` times the features' confusion loss, each weighted and batch-averaged.

    The head learns, on features it cannot change (detached), which images are synthetic. The features
    learn, through the head's weights held fixed, to bring its output to 1/2. So one backward pass trains
    each part on its own objective.
    """
    bce = nn.functional.binary_cross_entropy_with_logits
    told = bce(head(features.detach(), labels), synthetic.float(), reduction="none")
    confused = bce(head(features, labels, frozen=True), torch.full_like(weights, 0.5), reduction="none")
    return (weights * (told + scale * confused)).mean()
