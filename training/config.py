"""Training configuration: one frozen dataclass, loadable from YAML and overridable from the command line."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medsynth.errors import ArgumentError

LOSSES = ("hinge", "nonsaturating", "wasserstein")
VAL_FEATURES = ("pixel", "efficientnet-lite0")


@dataclass(frozen=True)
class TrainConfig:
    # --- data ---------------------------------------------------------------------------------------------
    data: str = ""  # ISIC CSV+folder, class folders, MedMNIST .npz or DICOM folders
    split: str = "train"  # split to train on where the data set has splits (ISIC, MedMNIST)
    val_split: str = ""  # split the validation metric compares with ("" = the training set)
    val_features: str = "pixel"  # validation FD space: "pixel" (8x8 block means) or
    # "efficientnet-lite0" (pooled ImageNet features; optimistic for --arch projected, whose D sees them)
    image_size: int = 64  # side of the square training images, 16..256 (a power of two)
    channels: int = 0  # 1 (grayscale) or 3 (RGB); 0 = what the data set has
    window: str = ""  # DICOM folders only: "from-file", a preset name, or "C,W"
    flips: str = "dihedral"  # augmentation of the real set: "none", "x" (mirror), "dihedral"
    balanced: bool = True  # sample classes uniformly (class-balanced) instead of by frequency
    # --- networks -----------------------------------------------------------------------------------------
    arch: str = "sngan"  # architecture, by its name in the registry of medsynth.training.nets
    latent_dim: int = 128  # length of the latent vector z
    g_width: int = 32  # generator channels at full resolution (doubling each level down)
    d_width: int = 32  # discriminator channels at the highest resolution
    max_width: int = 512  # cap on channels at any level
    lstm: bool = False  # wgan-gp only: a 2-layer LSTM over the latent (WGAN-GP+LSTM)
    bilinear: bool = False  # projected only: the generator up-samples bilinearly instead of by nearest
    # neighbour (2x2 blocks that its 3x3 convolutions turn into a checkerboard at the sampling limit)
    style_mixing: float = 0.9  # stylegan only: probability that a fake mixes the styles of two z
    # --- optimisation -------------------------------------------------------------------------------------
    loss: str = ""  # hinge | nonsaturating | wasserstein; "" = the architecture's default
    batch_size: int = 32  # images per step for D and G
    lr_g: float = 2e-4  # generator learning rate (TTUR: may differ from lr_d)
    lr_d: float = 2e-4  # discriminator learning rate
    beta1: float = 0.5  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    n_critic: int = 1  # discriminator steps per generator step
    r1_gamma: float = 0.0  # R1 penalty weight on real images (0 = off)
    gp_weight: float = 10.0  # gradient-penalty weight (wasserstein loss only)
    spectral_weight: float = 0.0  # G loss: weight of the log power-spectrum distance to the real set
    spectral_peak_weight: float = 0.0  # G loss: weight of the log power excess over the real set's peak bins
    # (the 16 bins where the batch's spectrum exceeds the real one most: lattices; medsynth.training.spectral)
    speck_weight: float = 0.0  # G loss: weight of a hinge on isolated off-colour pixels (specks)
    # (pixels more isolated from all 8 neighbours than real images' are; medsynth.training.specks)
    class_weight: float = 0.0  # projected only, G loss: weight of a fixed linear class probe's
    # cross-entropy on the pretrained features (class guidance; see medsynth.training.class_probe)
    class_mmd_weight: float = 0.0  # projected only, G loss: weight of a per-class MMD to the real images
    # on the pretrained features (each class's spread as well as its look; medsynth.training.class_mmd)
    pixel_head: bool = False  # projected only: a fifth D head on the full-size image (sees 1-pixel specks)
    # it reads the augmented image itself, where the pretrained features start at stride 4 and blur specks
    diffaugment: str = "color,translation,cutout"  # DiffAugment policy for D's real and fake ("" = off)
    ema_decay: float = 0.999  # generator EMA decay (0 = no EMA)
    ema_start: int = 500  # iterations before the EMA starts tracking (it copies G until then)
    # --- run ----------------------------------------------------------------------------------------------
    epochs: int = 50  # passes over the (balanced) training set
    max_iterations: int = 0  # stop after this many generator steps (0 = no limit)
    max_minutes: float = 0.0  # stop after this much wall time (0 = no limit); checkpoint written
    seed: int = 0  # seed of weights, sampling and augmentation
    threads: int = 0  # torch CPU threads (0 = torch's default)
    checkpoint_every: int = 1  # epochs between checkpoints (the last one is always written)
    keep_checkpoints: int = 3  # checkpoints kept on disk (oldest deleted first; 0 = all)
    sample_every: int = 1  # epochs between fixed-noise sample grids
    samples_per_class: int = 8  # images per class in each sample grid
    early_stop_patience: int = 0  # epochs without a better validation metric before stopping (0 = off)
    device: str = "cpu"  # torch device: cpu or cuda
    init_from: str = ""  # fine-tune: a checkpoint (weights, optimisers, counts) or exported model (generator)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes carried into the model card

    def __post_init__(self) -> None:
        size = self.image_size
        if size < 16 or size > 256 or size & (size - 1):
            raise ArgumentError(f"image_size must be a power of two between 16 and 256, got {size}")
        if self.channels not in (0, 1, 3):
            raise ArgumentError(f"channels must be 1 or 3 (or 0 for the data set's own), got {self.channels}")
        if self.val_features not in VAL_FEATURES:
            raise ArgumentError(
                f"val_features must be one of {', '.join(VAL_FEATURES)}, got {self.val_features!r}"
            )
        if self.flips not in ("none", "x", "dihedral"):
            raise ArgumentError(f"flips must be none, x or dihedral, got {self.flips!r}")
        if self.batch_size < 2:
            raise ArgumentError(f"batch_size must be at least 2, got {self.batch_size}")
        if self.loss not in ("", *LOSSES):
            raise ArgumentError(
                f"loss must be one of {', '.join(LOSSES)} (or empty for the architecture's "
                f"default), got {self.loss!r}"
            )
        positive = (
            "latent_dim",
            "g_width",
            "d_width",
            "max_width",
            "n_critic",
            "epochs",
            "checkpoint_every",
            "sample_every",
            "samples_per_class",
            "lr_g",
            "lr_d",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ArgumentError(f"{name} must be positive, got {getattr(self, name)}")
        not_negative = (
            "max_iterations",
            "max_minutes",
            "threads",
            "keep_checkpoints",
            "early_stop_patience",
            "r1_gamma",
            "gp_weight",
            "ema_start",
            "spectral_weight",
            "spectral_peak_weight",
            "speck_weight",
            "class_weight",
            "class_mmd_weight",
        )
        for name in not_negative:
            if getattr(self, name) < 0:
                raise ArgumentError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in ("beta1", "beta2", "ema_decay", "style_mixing"):
            value = getattr(self, name)
            if not (0.0 <= value < 1.0 or name == "style_mixing" and value == 1.0):
                raise ArgumentError(f"{name} must be in [0, 1), got {value}")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` (checked like the constructor's arguments)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> TrainConfig:
        """A config from a mapping of field names to values; ArgumentError naming ``source`` and the bad key.

        Integers are accepted for float fields; every other type must match the field's.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ArgumentError(f"{source}: unknown config keys {unknown}; known keys are {sorted(fields)}")
        checked = {}
        for name, value in values.items():
            kind = _KINDS[str(fields[name].type)]
            ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value, ok = float(value), True
            if kind is float and ok and not math.isfinite(value):
                ok = False
            if not ok:
                raise ArgumentError(f"{source}: {name} must be {kind.__name__}, got {value!r}")
            checked[name] = value
        return cls(**checked)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """A config from a YAML mapping of field names to values (see :meth:`from_dict`)."""
        return cls.from_dict(read_yaml(path), source=str(path))


_KINDS: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "dict[str, Any]": dict}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in the YAML file ``path``; ArgumentError when it cannot be read or is not a mapping."""
    import yaml

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ArgumentError(f"cannot read config {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise ArgumentError(f"cannot read config {path}: not YAML{where}: {problem}") from exc
    if not isinstance(values, dict):
        raise ArgumentError(f"{path}: a config is a mapping of keys to values, got {type(values).__name__}")
    return values
