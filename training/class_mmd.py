"""Per-class distribution matching for the projected GAN: an unbiased kernel MMD on the pretrained features.

The class probe (:mod:`.class_probe`) rewards the generator for images the probe is sure of, and a GAN meets
that with the most typical image of a class. Guided this way, ``isic2017-128`` drew about half its melanomas
as one template (a faint patch with a dark central spot), and a classifier trained with them lost melanoma
recall (docs/utility.md). This term asks instead that, within each class, the generator's images are spread
as the real ones are, in the space the probe reads: the squared maximum mean discrepancy (Gretton et al.,
JMLR 2012) between the batch's images of class ``c`` and every real training image of class ``c``, with a
sum of Gaussian kernels. Its fake-fake part pushes a class's generated images apart (the repulsion of MMD
GANs, Li et al. 2017) and its fake-real part pulls them towards that class's real images, so the class
signal and the spread are asked for together, and neither at the other's cost.

The real side is fixed. It is :data:`~medsynth.training.class_probe.PROBE_DRAWS` DiffAugment draws of every
training image through the frozen features, standardised, and computed once before training. It is a
function of the data, the seed and the pretrained weights, so a resumed run rebuilds it; it is not stored in
checkpoints or exported. The estimate is the unbiased one, which leaves ``i = j`` out of the fake-fake sum:
with about five images of a class in a batch of 16, the biased estimate would weigh their repulsion by 4/5
against the attraction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from medsynth.training.class_probe import standardise, standardised_features

MMD_SCALES = (0.25, 1.0, 4.0)  # kernel widths, as multiples of the median squared distance of real features
_MEDIAN_ROWS = 2048  # real rows the median is taken over (evenly spaced; the median needs no more)


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(len(a), len(b)) squared Euclidean distances, differentiable at zero (``torch.cdist``'s square root
    is not)."""
    d2 = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2.0 * a @ b.T
    return d2.clamp_min(0.0)


def kernel(a: torch.Tensor, b: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """The mean over ``widths`` of the Gaussian kernels ``exp(-|a_i - b_j|^2 / width)``."""
    d2 = squared_distances(a, b)
    return torch.exp(-d2.unsqueeze(0) / widths.view(-1, 1, 1)).mean(0)


def mmd2_unbiased(
    fake: torch.Tensor, real: torch.Tensor, widths: torch.Tensor, real_term: float
) -> torch.Tensor:
    """The unbiased squared MMD between ``fake`` (n >= 2 rows) and ``real``, given the real-real term (the
    mean kernel over the real pairs i != j, a constant the caller computed once)."""
    n = len(fake)
    kff = kernel(fake, fake, widths)
    within = (kff.sum() - kff.diagonal().sum()) / (n * (n - 1))
    return within - 2.0 * kernel(fake, real, widths).mean() + real_term


def _within_term(x: torch.Tensor, widths: torch.Tensor, chunk: int = 1024) -> float:
    """The mean kernel over the pairs i != j of ``x``, in row blocks so memory stays bounded."""
    n = len(x)
    total = 0.0
    for i in range(0, n, chunk):
        total += float(kernel(x[i : i + chunk], x, widths).sum())
    return (total - n * 1.0) / (n * (n - 1))  # every kernel is 1 on the diagonal


class ClassFeatureMMD:
    """The per-class MMD term: standardised pooled features of generated images -> mean squared MMD to the
    real images of their classes."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, real: Sequence[torch.Tensor], width: float):
        self.mean, self.std = mean, std
        self.real = list(real)  # standardised features of each class's real images (rows, channels)
        self.widths = torch.tensor([s * width for s in MMD_SCALES], device=mean.device)
        self.real_terms = [_within_term(r, self.widths) if len(r) >= 2 else 0.0 for r in self.real]

    def __call__(self, feats: Sequence[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """The mean over the classes with at least two images in the batch (and two real ones) of their
        unbiased squared MMD; 0 (with a gradient path) when there is none."""
        z = standardise(feats, self.mean, self.std)
        in_batch = torch.bincount(y, minlength=len(self.real)).tolist()  # one device sync, not one per class
        terms = [
            mmd2_unbiased(z[y == c], real, self.widths, term)
            for c, (real, term) in enumerate(zip(self.real, self.real_terms, strict=True))
            if in_batch[c] >= 2 and len(real) >= 2
        ]
        return torch.stack(terms).mean() if terms else z.sum() * 0.0


def fit_class_mmd(
    pyramid: Callable[[torch.Tensor], list[torch.Tensor]],
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    augment: Callable[[torch.Tensor], torch.Tensor],
    *,
    device: torch.device | str = "cpu",
    batch: int = 64,
) -> ClassFeatureMMD:
    """The term for uint8 ``images`` (N, H, W, C) with class indices ``labels``. ``augment`` maps a batch in
    [-1, 1] to an augmented one (the run's DiffAugment, with its own seeded generator); the kernel width is
    the median squared distance between real features, standardised per channel."""
    device = torch.device(device)
    z, targets, mean, std = standardised_features(
        pyramid, images, labels, augment, device=device, batch=batch
    )
    rows = z[:: max(1, len(z) // _MEDIAN_ROWS)]
    d2 = squared_distances(rows, rows)
    width = float(d2[~torch.eye(len(rows), dtype=torch.bool)].median()) if len(rows) > 1 else 1.0
    real = [z[targets == c].to(device) for c in range(num_classes)]
    return ClassFeatureMMD(mean.to(device), std.to(device), real, max(width, 1e-6))
