"""The model card of an exported checkpoint, built from the checkpoint's JSON description.

Provenance never carries a file path: the config's ``data`` key (where the data set lay) is always dropped,
and so is any string that looks like a path (see :func:`scrub_paths`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from medsynth._primitives import PHOTOMETRIC
from medsynth._version import __version__
from medsynth.dicom.presets import Window, parse_window
from medsynth.errors import DataError
from medsynth.model_card import SCHEMA_VERSION, ModelCard
from medsynth.training.checkpoint import CheckpointMeta

INTENDED_USE = "Synthetic research data; not for diagnosis."
DEFAULT_LICENSE = "Apache-2.0"
PATH_KEYS = frozenset({"data"})  # config keys that name a location even when the value is a bare name

_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def looks_like_path(text: str) -> bool:
    """True for strings that look like a file path: absolute, home-relative, dotted, or slashed, no spaces.

    URLs (``scheme://...``) are not paths. ``"CC BY 4.0"``, ``"-600,1500"`` or ``"color,translation"`` are not
    paths; ``"/data/isic"``, ``"~/x"``, ``"../x"``, ``"runs/a"``, ``"C:\\x"`` are.
    """
    if "://" in text:
        return False
    return (
        text.startswith(("/", "~", "./", "../"))
        or bool(_DRIVE.match(text))
        or "\\" in text
        or ("/" in text and " " not in text)
    )


def scrub_paths(value: Any, *, where: str = "") -> tuple[Any, list[str]]:
    """Return ``value`` without path-like strings (and without :data:`PATH_KEYS` keys), and what was removed.

    Parameters
    ----------
    value
        A JSON value (dicts, lists, scalars).
    where
        Dotted location of ``value``, used to name removed entries.

    Returns
    -------
    tuple
        The cleaned value, and the dotted names of the removed entries.
    """
    removed: list[str] = []
    if isinstance(value, Mapping):
        clean = {}
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if key in PATH_KEYS or (isinstance(item, str) and looks_like_path(item)):
                removed.append(name)
                continue
            clean[key], sub = scrub_paths(item, where=name)
            removed += sub
        return clean, removed
    if isinstance(value, (list, tuple)):
        items = []
        for i, item in enumerate(value):
            if isinstance(item, str) and looks_like_path(item):
                removed.append(f"{where}[{i}]")
                continue
            cleaned, sub = scrub_paths(item, where=f"{where}[{i}]")
            items.append(cleaned)
            removed += sub
        return items, removed
    return value, removed


def default_modality(meta: CheckpointMeta) -> str:
    """The DICOM modality of the training images when the caller does not say.

    The checkpoint's own ``modality`` when it has one; else ``XC`` (external-camera photograph, what
    dermoscopy is) for RGB images not read from DICOM, and ``OT`` (other) for everything else.
    """
    if meta.modality.strip():
        return meta.modality.strip().upper()
    return "XC" if meta.channels == 3 and not meta.config.window else "OT"


def intensity_from_config(window: str, modality: str) -> tuple[dict[str, Any], list[str]]:
    """The card's intensity mapping for the training config's ``window``, and notes for the export report.

    A fixed window (a preset name or ``"C,W"``) is what every training image was windowed with, so it is
    carried: ``{"kind": "window", "center", "width"}`` with ``"units": "HU"`` for CT. No window (photographs,
    MedMNIST), ``"from-file"`` (each file its own window) or ``"full"`` give ``{"kind": "display"}``: pixel
    values then have no fixed physical meaning.

    Raises
    ------
    DataError
        The window string cannot be parsed.
    """
    if not window:
        return {"kind": "display"}, []
    parsed = parse_window(window)
    if not isinstance(parsed, Window):
        note = (
            f"the training window was {parsed!r} (not one fixed window), so the card's intensity is "
            "'display'; pass a window to carry one"
        )
        return {"kind": "display"}, [note]
    intensity: dict[str, Any] = {"kind": "window", "center": parsed.center, "width": parsed.width}
    if modality == "CT":
        intensity["units"] = "HU"
    if parsed.function != "LINEAR":
        intensity["function"] = parsed.function
    return intensity, []


def build_card(
    meta: CheckpointMeta,
    *,
    name: str,
    description: str | None = None,
    license: str = DEFAULT_LICENSE,
    modality: str | None = None,
    intensity: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    export_info: Mapping[str, Any] | None = None,
) -> tuple[ModelCard, list[str]]:
    """Build the model card of a checkpoint from its JSON description.

    Parameters
    ----------
    meta
        The checkpoint's description (config, classes, channels, dataset, ...).
    name
        Model name.
    description
        One line; ``None`` writes one from the architecture, size and data set.
    license
        Licence of the exported weights.
    modality
        DICOM modality of the training images; ``None`` uses :func:`default_modality`.
    intensity
        The intensity mapping; ``None`` derives it from the config's window (:func:`intensity_from_config`).
    metrics
        Measured metrics, stored as given (must be JSON-serialisable).
    export_info
        How the file was exported (exporter, opset, weights, fp16), stored under ``provenance.export``.

    Returns
    -------
    tuple
        The validated card, and notes for the user (removed path-like config entries, intensity choices).

    Raises
    ------
    DataError
        The window cannot be parsed, or the card would be invalid (the message says which field).
    """
    try:
        json.dumps(dict(metrics or {}))
    except (TypeError, ValueError) as exc:
        raise DataError(f"metrics must be JSON-serialisable: {exc}") from exc
    config, channels = meta.config, meta.channels
    modality = (modality or default_modality(meta)).strip().upper()
    notes: list[str] = []
    if intensity is None:
        intensity, window_notes = intensity_from_config(config.window, modality)
        notes += window_notes
    clean_config, removed = scrub_paths(config.to_dict())
    if removed:
        notes.append(f"left out of the card as file locations: config {', '.join(removed)}")
    provenance: dict[str, Any] = {
        "dataset": meta.dataset,
        "dataset_license": meta.dataset_license,
        "images_per_class": dict(meta.images_per_class),
        "config": clean_config,
        "seed": config.seed,
        "epochs": meta.epochs_done,
        "iterations": meta.iteration,
        "wall_time_s": meta.wall_time_s,
        "train_manifest_sha256": meta.train_manifest_sha256,
        "trained_on": _trained_on(meta),
        "loss": meta.loss or None,
    }
    if export_info:
        provenance["export"] = dict(export_info)
    provenance = {k: v for k, v in provenance.items() if v is not None}
    provenance, removed_more = scrub_paths(provenance)
    if removed_more:
        notes.append(f"left out of the card as file locations: provenance {', '.join(removed_more)}")
    arch, size = config.arch, config.image_size
    if description is None:
        data = provenance.get("dataset") or "an unnamed data set"
        description = (
            f"{arch} class-conditional GAN, {size}x{size} {PHOTOMETRIC.get(channels, '?')}, trained on {data}"
        )
    try:
        card = ModelCard(
            schema_version=SCHEMA_VERSION,
            name=name,
            description=description,
            resize_policy=meta.resize_policy,
            arch=arch,
            classes=meta.classes,
            latent_dim=config.latent_dim,
            image_size=size,
            channels=channels,
            photometric=PHOTOMETRIC.get(channels, ""),
            modality=modality,
            intensity=dict(intensity),
            provenance=provenance,
            metrics=dict(metrics or {}),
            medsynth_version=__version__,
            license=license,
            intended_use=INTENDED_USE,
        )
    except ValueError as exc:  # ModelError from the card's validation
        raise DataError(f"cannot build the model card: {exc}") from exc
    return card, notes


def _trained_on(meta: CheckpointMeta) -> str | None:
    if not meta.device:
        return None
    return f"{meta.device} (torch {meta.torch_version})" if meta.torch_version else meta.device
