"""Score a synthetic image set against a real one: distribution metrics per class with intervals,
full-reference metrics against each synthetic image's nearest real image, spectral artefacts, and the
memorization audit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from medsynth.errors import DataError
from medsynth.imageset import ImageSet
from medsynth.metrics import gmsd, haarpsi, mdsi, ms_gmsd, ms_ssim, psnr, ssim
from medsynth.metrics._neighbours import nearest
from medsynth.metrics.bootstrap import bootstrap_interval
from medsynth.metrics.c2st import C2ST_C, C2ST_FOLDS, c2st, class_matched, stratified_folds
from medsynth.metrics.diversity import diversity
from medsynth.metrics.features import DEFAULT_SPACE
from medsynth.metrics.fixed_mark import DEFAULT_BOX, fixed_mark_comparison
from medsynth.metrics.frechet import frechet_distance, relative_frechet_distance
from medsynth.metrics.inception_score import inception_score
from medsynth.metrics.isolated_pixels import isolated_pixel_comparison
from medsynth.metrics.kid import kid
from medsynth.metrics.memorization import MemorizationResult, memorization_audit, pixel_space
from medsynth.metrics.prdc import prdc
from medsynth.metrics.radiomics import radiomic_features, zscore_against
from medsynth.metrics.spectrum import spectral_comparison
from medsynth.metrics.ssim import MS_SSIM_WEIGHTS

__all__ = ["EvaluationConfig", "Evaluation", "evaluate_sets", "FULL_REFERENCE"]

FULL_REFERENCE: dict[str, Callable[..., np.ndarray]] = {
    "psnr": psnr,
    "ssim": ssim,
    "ms_ssim": ms_ssim,
    "gmsd": gmsd,
    "ms_gmsd": ms_gmsd,
    "mdsi": mdsi,
    "haarpsi": haarpsi,
}
PIXEL_SIDE = 32  # side of the downsampled images of the pixel space (nearest-real pairing, memorization)


@dataclass(frozen=True)
class EvaluationConfig:
    """Settings of :func:`evaluate_sets`."""

    n_boot: int = 100  # bootstrap resamples for the intervals (0: point estimates only)
    level: float = 0.95  # confidence level of the intervals
    kid_subset_size: int = 1000  # rows per KID subset (capped at the smaller set)
    kid_subsets: int = 100  # KID subsets
    prdc_k: int = 5  # neighbourhood size of precision/recall/density/coverage
    copy_percentile: float = 1.0  # memorization threshold: this percentile of holdout-to-train distances
    c2st_folds: int = C2ST_FOLDS  # cross-validation folds of the classifier two-sample test
    c2st_c: float = C2ST_C  # inverse L2 strength of its logistic regression
    seed: int = 0  # seed of every random choice (splits, subsets, resamples)


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate_sets` measured."""

    metrics: dict[str, Any]  # JSON-ready results (what metrics.json holds)
    memorization: dict[str, MemorizationResult]  # by space name; empty without a training set
    synthetic_images: np.ndarray  # the synthetic images in the audit's order
    train_images: np.ndarray | None  # the training images in the audit's order


def _ms_ssim_weights(side: int) -> tuple[float, ...] | None:
    """The published MS-SSIM weights when the images are large enough, else the first scales that fit."""
    for levels in range(len(MS_SSIM_WEIGHTS), 0, -1):
        if side >= 10 * 2 ** (levels - 1) + 1:
            return MS_SSIM_WEIGHTS[:levels]
    return None


def _full_reference(real: np.ndarray, synthetic: np.ndarray, cfg: EvaluationConfig) -> dict[str, Any]:
    """Each synthetic image against its nearest real image (pixel space) with every kernel; mean and
    interval."""
    idx, _ = nearest(pixel_space(synthetic, PIXEL_SIDE), pixel_space(real, PIXEL_SIDE))
    partner = real[idx]
    side = min(synthetic.shape[1:3])
    out: dict[str, Any] = {}
    for name, fn in FULL_REFERENCE.items():
        kwargs: dict[str, Any] = {}
        if name == "ms_ssim":
            weights = _ms_ssim_weights(side)
            if weights is None:
                continue
            kwargs["scale_weights"] = None if len(weights) == len(MS_SSIM_WEIGHTS) else weights
        if name == "ssim" and side < 11 or name == "haarpsi" and side < 16 or name == "ms_gmsd" and side < 17:
            continue
        values = fn(synthetic, partner, **kwargs)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            out[name] = {
                "value": float(values[0]),
                "low": float(values[0]),
                "high": float(values[0]),
                "level": cfg.level,
                "n_boot": 0,
                "identical_pairs": int(values.size),
            }
            continue
        out[name] = bootstrap_interval(
            np.mean, finite, n_boot=cfg.n_boot, level=cfg.level, seed=cfg.seed
        ).as_dict()
        if name == "ms_ssim":
            out[name]["scales"] = len(weights or ())
        if finite.size < values.size:
            out[name]["identical_pairs"] = int(values.size - finite.size)
    return out


def _distribution(fr: np.ndarray, fs: np.ndarray, cfg: EvaluationConfig) -> dict[str, Any]:
    """FD (with interval), relative FD, KID, diversity and PRDC between two feature sets, each where the
    counts allow."""
    out: dict[str, Any] = {"n_real": int(fr.shape[0]), "n_synthetic": int(fs.shape[0])}
    if min(fr.shape[0], fs.shape[0]) >= 2:
        out["fd"] = bootstrap_interval(
            frechet_distance, fr, fs, n_boot=cfg.n_boot, level=cfg.level, seed=cfg.seed
        ).as_dict()
        res = kid(fr, fs, subset_size=cfg.kid_subset_size, n_subsets=cfg.kid_subsets, seed=cfg.seed)
        out["kid"] = {
            "mean": res.mean,
            "std": res.std,
            "subset_size": res.subset_size,
            "n_subsets": res.n_subsets,
        }
    if fr.shape[0] >= 4 and fs.shape[0] >= 2:
        ratio, _, baseline = relative_frechet_distance(fr, fs, seed=cfg.seed)
        out["relative_fd"] = ratio
        out["fd_real_halves"] = baseline
    if min(fr.shape[0], fs.shape[0]) >= 2:
        out["diversity"] = diversity(fr, fs, seed=cfg.seed).as_dict()
    if min(fr.shape[0], fs.shape[0]) > cfg.prdc_k:
        r = prdc(fr, fs, k=cfg.prdc_k)
        out["prdc"] = {
            "precision": r.precision,
            "recall": r.recall,
            "density": r.density,
            "coverage": r.coverage,
            "k": r.k,
        }
    return out


def _two_sample(a: np.ndarray, b: np.ndarray, cfg: EvaluationConfig) -> dict[str, Any] | None:
    """C2ST of ``b`` against ``a``, or None when a set is too small for the folds."""
    if min(a.shape[0], b.shape[0]) < max(cfg.c2st_folds, 2):
        return None
    return c2st(
        a, b, folds=cfg.c2st_folds, C=cfg.c2st_c, n_boot=cfg.n_boot, level=cfg.level, seed=cfg.seed
    ).as_dict()


def _matched(ca: np.ndarray, cb: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-matched rows of two sets; all rows of both when they share no class name (e.g. a flat folder)."""
    ia, ib = class_matched(ca, cb, seed=seed)
    if ib.size == 0:
        return np.arange(ca.size), np.arange(cb.size)
    return ia, ib


def _c2st_entry(
    fr: np.ndarray,
    fs: np.ndarray,
    ft: np.ndarray | None,
    cr: np.ndarray,
    cs: np.ndarray,
    ct: np.ndarray | None,
    cfg: EvaluationConfig,
) -> dict[str, Any] | None:
    """Real against synthetic, with the real-versus-real floor beside it (real against the training images
    when given, else two class-stratified halves of the real set); the second set of each pair is subsampled
    to the first one's class proportions (see :func:`~medsynth.metrics.c2st.class_matched`)."""
    ia, ib = _matched(cr, cs, cfg.seed)
    entry = _two_sample(fr[ia], fs[ib], cfg)
    if entry is None:
        return None
    if ft is not None and ct is not None:
        ja, jb = _matched(cr, ct, cfg.seed)
        floor, against = _two_sample(fr[ja], ft[jb], cfg), "train"
    else:
        half = stratified_folds(cr, 2, seed=cfg.seed)
        floor, against = _two_sample(fr[half == 0], fr[half == 1], cfg), "real halves"
    if floor is not None:
        floor["against"] = against
    entry["floor"] = floor
    return entry


def evaluate_sets(
    real: ImageSet,
    synthetic: ImageSet,
    *,
    train: ImageSet | None = None,
    extractor: Callable[[np.ndarray], np.ndarray] | None = None,
    extractor_name: str | None = None,
    classifier: Callable[[np.ndarray], np.ndarray] | None = None,
    config: EvaluationConfig = EvaluationConfig(),
) -> Evaluation:
    """Score ``synthetic`` against ``real`` overall and per class, and audit it against ``train``.

    Parameters
    ----------
    real : ImageSet
        Real images the synthetic ones should resemble; with ``train`` given they are the held-out set of the
        audit, so they must not be training images.
    synthetic : ImageSet
        The synthetic images, same size and channels as ``real``.
    train : ImageSet, optional
        The generator's training images; enables the memorization audit.
    extractor : callable, optional
        Maps a uint8 batch to features (N, D), e.g. an
        :class:`~medsynth.metrics.features.OnnxFeatureExtractor`. Without one the weight-free radiomic space
        is used (standardised against the real set).
    extractor_name : str, optional
        Name of the extractor's space for the results.
    classifier : callable, optional
        Maps a uint8 batch to logits (N, K); adds the Inception Score of both sets.
    config : EvaluationConfig
        Bootstrap, KID, PRDC and audit settings.

    Returns
    -------
    Evaluation
        JSON-ready metrics and the audits.

    Raises
    ------
    DataError
        If the sets' image shapes differ or they share no class.
    """
    if real.images.shape[1:] != synthetic.images.shape[1:]:
        raise DataError(
            f"real images are {real.images.shape[1:]} and synthetic ones {synthetic.images.shape[1:]}; "
            "load both at one size and channel count"
        )
    if train is not None and train.images.shape[1:] != real.images.shape[1:]:
        raise DataError(f"training images are {train.images.shape[1:]}, real ones {real.images.shape[1:]}")
    shared = [c for c in synthetic.classes if c in real.classes and len(synthetic.of_class(c))]
    if not shared and not (len(real.classes) == 1 or len(synthetic.classes) == 1):
        raise DataError(
            f"the synthetic classes {list(synthetic.classes)} and real classes {list(real.classes)} "
            "share no name"
        )

    rad_real = radiomic_features(real.images)
    rad_syn = radiomic_features(synthetic.images)
    if train is None:
        zr, zs = zscore_against(rad_real, rad_syn)
        ztrain = None
    else:
        zr, zs, ztrain = zscore_against(rad_real, rad_syn, radiomic_features(train.images))
    # each feature space: (real, synthetic, training) features; the radiomic one always
    spaces: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {DEFAULT_SPACE: (zr, zs, ztrain)}
    if extractor is None:
        space = DEFAULT_SPACE
    else:
        space = extractor_name or "features"
        spaces[space] = (
            extractor(real.images),
            extractor(synthetic.images),
            None if train is None else extractor(train.images),
        )
    fr, fs, _ = spaces[space]
    names_r = np.asarray(real.classes)[real.labels]
    names_s = np.asarray(synthetic.classes)[synthetic.labels]
    names_t = None if train is None else np.asarray(train.classes)[train.labels]

    metrics: dict[str, Any] = {
        "feature_space": space,
        "classes": shared,
        "config": config.__dict__.copy(),
        "sets": {
            "real": {"source": real.name, "counts": real.counts()},
            "synthetic": {"source": synthetic.name, "counts": synthetic.counts()},
        },
        "image_shape": list(real.images.shape[1:]),
    }
    overall = _distribution(fr, fs, config)
    overall["frd"] = bootstrap_interval(
        frechet_distance, zr, zs, n_boot=config.n_boot, level=config.level, seed=config.seed
    ).as_dict()
    overall["full_reference"] = _full_reference(real.images, synthetic.images, config)
    overall["spectrum"] = spectral_comparison(real.images, synthetic.images).as_dict()
    overall["isolated_pixels"] = isolated_pixel_comparison(real.images, synthetic.images).as_dict()
    if min(real.images.shape[1:3]) >= DEFAULT_BOX:  # smaller images have no room for the 9x9 high-pass
        overall["fixed_mark"] = fixed_mark_comparison(real.images, synthetic.images).as_dict()
    overall["c2st"] = {
        name: _c2st_entry(f_r, f_s, f_t, names_r, names_s, names_t, config)
        for name, (f_r, f_s, f_t) in spaces.items()
    }
    if classifier is not None:
        for name, imgs in (("synthetic", synthetic.images), ("real", real.images)):
            logits = classifier(imgs)
            res = inception_score(logits, n_splits=min(10, logits.shape[0]))
            overall[f"inception_score_{name}"] = {"mean": res.mean, "std": res.std, "n_splits": res.n_splits}
    metrics["overall"] = overall

    per_class: dict[str, Any] = {}
    for cls in shared:
        rmask = real.labels == real.classes.index(cls)
        smask = synthetic.labels == synthetic.classes.index(cls)
        entry = _distribution(fr[rmask], fs[smask], config)
        if rmask.sum() >= 2 and smask.sum() >= 2:
            entry["frd"] = bootstrap_interval(
                frechet_distance,
                zr[rmask],
                zs[smask],
                n_boot=config.n_boot,
                level=config.level,
                seed=config.seed,
            ).as_dict()
        entry["full_reference"] = _full_reference(real.images[rmask], synthetic.images[smask], config)
        tmask = None if names_t is None else names_t == cls
        entry["c2st"] = {
            name: _c2st_entry(
                f_r[rmask],
                f_s[smask],
                None if f_t is None or tmask is None else f_t[tmask],
                names_r[rmask],
                names_s[smask],
                None if names_t is None or tmask is None else names_t[tmask],
                config,
            )
            for name, (f_r, f_s, f_t) in spaces.items()
        }
        if rmask.any() and smask.any():
            entry["spectrum"] = spectral_comparison(real.images[rmask], synthetic.images[smask]).as_dict()
            entry["isolated_pixels"] = isolated_pixel_comparison(
                real.images[rmask], synthetic.images[smask]
            ).as_dict()
            if "fixed_mark" in overall:
                entry["fixed_mark"] = fixed_mark_comparison(
                    real.images[rmask], synthetic.images[smask]
                ).as_dict()
        per_class[cls] = entry
    metrics["per_class"] = per_class

    audits: dict[str, MemorizationResult] = {}
    if train is not None:
        audits["pixels"] = memorization_audit(
            pixel_space(synthetic.images, PIXEL_SIDE),
            pixel_space(train.images, PIXEL_SIDE),
            pixel_space(real.images, PIXEL_SIDE),
            space=f"pixels-{PIXEL_SIDE}",
            percentile=config.copy_percentile,
        )
        ftrain = spaces[space][2]
        if ftrain is not None:  # always: the training features were computed above
            audits["features"] = memorization_audit(
                fs, ftrain, fr, space=space, percentile=config.copy_percentile
            )
        metrics["memorization"] = {k: v.summary() for k, v in audits.items()}
    else:
        metrics["memorization"] = None
    return Evaluation(metrics, audits, synthetic.images, None if train is None else train.images)
