"""Condense the metrics.json of `medsynth evaluate` into the small `metrics` object of a model card.

python examples/card_metrics.py runs/isic2017-64/eval/metrics.json --out card_metrics.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _interval(entry: dict[str, Any] | None) -> dict[str, float] | None:
    if not entry:
        return None
    return {k: round(float(entry[k]), 4) for k in ("value", "low", "high") if k in entry}


def _distribution(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"n_real": entry.get("n_real"), "n_synthetic": entry.get("n_synthetic")}
    if "fd" in entry:
        out["fd"] = _interval(entry["fd"])
    if "frd" in entry:
        out["frd"] = _interval(entry["frd"])
    if "relative_fd" in entry:
        out["relative_fd"] = round(float(entry["relative_fd"]), 3)
    if "kid" in entry:
        out["kid"] = round(float(entry["kid"]["mean"]), 5)
    if "prdc" in entry:
        out["prdc"] = {
            k: round(float(entry["prdc"][k]), 3) for k in ("precision", "recall", "density", "coverage")
        }
    if entry.get("c2st"):
        out["c2st_auc"] = {
            space: {"auc": _interval(e["auc"]), "floor": _interval((e.get("floor") or {}).get("auc"))}
            for space, e in entry["c2st"].items()
            if e
        }
    if "spectrum" in entry:
        s = entry["spectrum"]
        out["spectral_peak_ratio"] = round(float(s["peak_ratio"]), 3)
        out["log_spectral_distance_db"] = round(float(s["log_spectral_distance_db"]), 3)
    return out


_NOTES = {
    "radiomics": "weight-free radiomic features (first-order intensity statistics, GLCM texture, colour "
    "statistics) standardised on the real set; FD in this space is the Fréchet Radiomics Distance.",
    "efficientnet-lite0": "ImageNet EfficientNet-Lite0 pooled features at 224 px; optimistic for a generator "
    "whose discriminator uses the same network (--arch projected), so read FRD and the C2ST beside it.",
}


def condense(metrics: dict[str, Any], against: str) -> dict[str, Any]:
    card: dict[str, Any] = {
        "evaluated_against": against,
        "feature_space": metrics["feature_space"],
        "feature_space_note": _NOTES.get(metrics["feature_space"], "a user-supplied ONNX feature space.")
        + " relative_fd = FD(real, synthetic) / FD(two halves of the real set); frd is always the "
        "radiomic FD; c2st_auc: cross-validated logistic-regression AUC real vs synthetic "
        "(0.5 = indistinguishable), floor: the same between two real sets.",
        "overall": _distribution(metrics["overall"]),
        "per_class": {c: _distribution(e) for c, e in metrics["per_class"].items()},
    }
    if "memorization" in metrics:
        card["memorization"] = {
            space: {k: v for k, v in summary.items() if not isinstance(v, (list, dict))}
            for space, summary in metrics["memorization"].items()
        }
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--against", default="ISIC 2017 val split (held out from training)")
    args = parser.parse_args()
    card = condense(json.loads(args.metrics.read_text()), args.against)
    args.out.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    print(json.dumps(card["overall"], indent=2))


if __name__ == "__main__":
    main()
