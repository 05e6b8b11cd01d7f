"""The downstream-utility benchmark: does synthetic data help a classifier trained on the real data?"""

from medsynth.training.downstream.arms import ARMS, Arm
from medsynth.training.downstream.benchmark import UtilityConfig, run_utility
from medsynth.training.downstream.classifier import ClassifierConfig
from medsynth.training.downstream.metrics import (
    auroc_ovr,
    balanced_accuracy,
    macro_auroc,
    per_class_recall,
    stratified_resamples,
)

__all__ = [
    "ARMS",
    "Arm",
    "ClassifierConfig",
    "UtilityConfig",
    "run_utility",
    "auroc_ovr",
    "balanced_accuracy",
    "macro_auroc",
    "per_class_recall",
    "stratified_resamples",
]
