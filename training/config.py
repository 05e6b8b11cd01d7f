"""Training configuration: one frozen dataclass, loadable from YAML and overridable from the command line."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medsynth.errors import DataError


@dataclass(frozen=True)
class TrainConfig:
    # --- data -----------------------------------------------------------------------------------------------
    data: str = ""                      # data set: ISIC CSV+folder, class-per-folder tree, MedMNIST .npz, DICOM folder
    split: str = "train"                # split to train on where the data set has splits (ISIC labels.csv, MedMNIST)
    image_size: int = 64                # side of the square training images, 32..256 (a power of two)
    channels: int = 0                   # 1 (grayscale) or 3 (RGB); 0 = what the data set has
    window: str = ""                    # DICOM folders only: "from-file", a preset name, or "C,W"
    flips: str = "dihedral"             # data augmentation of the real set: "none", "x" (mirror) or "dihedral" (flips+rot90)
    balanced: bool = True               # sample classes uniformly (class-balanced sampling) instead of by frequency
    # --- networks -------------------------------------------------------------------------------------------
    arch: str = "sngan"                 # dcgan | sngan | wgan-gp | stylegan
    latent_dim: int = 128               # length of the latent vector z
    g_width: int = 32                   # generator channels at the highest resolution (doubles each level down)
    d_width: int = 32                   # discriminator channels at the highest resolution
    max_width: int = 512                # cap on channels at any level
    lstm: bool = False                  # wgan-gp only: a 2-layer LSTM over the latent (WGAN-GP+LSTM)
    # --- optimisation ---------------------------------------------------------------------------------------
    loss: str = ""                      # hinge | nonsaturating | wasserstein; "" = the architecture's default
    batch_size: int = 32                # images per step for D and G
    lr_g: float = 2e-4                  # generator learning rate (TTUR: may differ from lr_d)
    lr_d: float = 2e-4                  # discriminator learning rate
    beta1: float = 0.5                  # Adam beta1
    beta2: float = 0.999                # Adam beta2
    n_critic: int = 1                   # discriminator steps per generator step
    r1_gamma: float = 0.0               # R1 penalty weight on real images (0 = off)
    gp_weight: float = 10.0             # gradient-penalty weight (wasserstein loss only)
    diffaugment: str = "color,translation,cutout"  # DiffAugment policy applied to real and fake images for D ("" = off)
    ema_decay: float = 0.999            # generator EMA decay (0 = no EMA)
    ema_start: int = 500                # iterations before the EMA starts tracking (it copies G until then)
    # --- run ------------------------------------------------------------------------------------------------
    epochs: int = 50                    # passes over the (balanced) training set
    max_iterations: int = 0             # stop after this many generator steps (0 = no limit)
    max_minutes: float = 0.0            # stop after this much wall time (0 = no limit); a checkpoint is written
    seed: int = 0                       # seed of weights, sampling and augmentation
    threads: int = 0                    # torch CPU threads (0 = torch's default)
    checkpoint_every: int = 1           # epochs between checkpoints (the last one is always written)
    keep_checkpoints: int = 3           # checkpoints kept on disk (oldest deleted first)
    sample_every: int = 1               # epochs between fixed-noise sample grids
    samples_per_class: int = 8          # images per class in each sample grid
    early_stop_patience: int = 0        # epochs without improvement of the validation metric before stopping (0 = off)
    device: str = "cpu"                 # torch device: cpu or cuda
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes carried into the model card

    def __post_init__(self) -> None:
        size = self.image_size
        if size < 16 or size > 256 or size & (size - 1):
            raise DataError(f"image_size must be a power of two between 16 and 256, got {size}")
        if self.channels not in (0, 1, 3):
            raise DataError(f"channels must be 1 or 3 (or 0 for the data set's own), got {self.channels}")
        if self.flips not in ("none", "x", "dihedral"):
            raise DataError(f"flips must be none, x or dihedral, got {self.flips!r}")
        if self.batch_size < 2:
            raise DataError(f"batch_size must be at least 2, got {self.batch_size}")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataError(f"{source}: unknown config keys {unknown}; known keys are {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        import yaml

        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DataError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(values, dict):
            raise DataError(f"{path}: a config is a mapping of keys to values, got {type(values).__name__}")
        return cls.from_dict(values, source=str(path))
