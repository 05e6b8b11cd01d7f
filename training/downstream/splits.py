"""The real train and validation splits of the utility benchmark, in the model's class order."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from medsynth.errors import DataError
from medsynth.imageset import ImageSet, detect_layout
from medsynth.imageset.folders import class_folders
from medsynth.model_card import ModelCard
from medsynth.training.data import load_image_set

__all__ = ["load_splits", "to_model_classes"]


def _has_splits(path: Path) -> bool:
    """True for layouts with named splits: a CSV with a split column (ISIC's labels.csv) or MedMNIST."""
    return detect_layout(path).has_splits


def load_splits(
    real: Path,
    val: Path | None,
    *,
    image_size: int,
    channels: int,
    train_split: str = "train",
    val_split: str = "val",
    progress: Callable[[str], None] | None = None,
) -> tuple[ImageSet, ImageSet]:
    """Load the real train and validation images.

    Parameters
    ----------
    real
        An ISIC folder or CSV, a MedMNIST npz (both with splits), or a folder holding ``train/`` and ``val/``
        class-folder trees.
    val
        A separate validation data set (any layout); None takes ``val_split`` of ``real``.
    image_size, channels
        Size and channels every image is read at (the model's).
    train_split, val_split
        Split names for layouts that have splits.
    progress
        Called with one-line messages (skipped files).

    Returns
    -------
    train, val : ImageSet
        As read (class order of the data set; see :func:`to_model_classes`).

    Raises
    ------
    DataError
        A missing path, a layout without a validation split and no ``val``, or any loading error.
    """
    if not real.exists():
        raise DataError(
            f"real data set {real} does not exist; pass --real with an ISIC folder, a MedMNIST "
            ".npz or a folder with train/ and val/ class-folder trees"
        )
    if val is not None and not val.exists():
        raise DataError(f"validation data set {val} does not exist")
    train_source, train_name = real, train_split
    if not _has_splits(real) and real.is_dir():
        if (real / "train").is_dir() and class_folders(real / "train"):
            train_source, train_name = real / "train", "all"
            if val is None and (real / "val").is_dir():
                val, val_split = real / "val", "all"
        if val is None:
            raise DataError(
                f"{real} is a tree of class folders with no validation split; arrange it as "
                f"{real}/train/<class>/ and {real}/val/<class>/, or pass --val PATH with "
                "held-out images of the same classes"
            )
    if val is not None and not _has_splits(val):
        val_split = "all"
    train = load_image_set(
        train_source, image_size=image_size, channels=channels, split=train_name, progress=progress
    )
    source = val if val is not None else real
    try:
        held_out = load_image_set(
            source, image_size=image_size, channels=channels, split=val_split, progress=progress
        )
    except DataError as exc:
        if val is not None and source is val and val_split == "all":
            raise
        raise DataError(
            f"{source} has no usable validation split {val_split!r} ({exc}); pass --val-split "
            "NAME, or --val PATH with held-out images of the same classes"
        ) from exc
    return train, held_out


def to_model_classes(images: ImageSet, card: ModelCard, what: str) -> ImageSet:
    """Relabel ``images`` to the model's class order.

    Class names must match the model's (in any order); a data set whose classes are the indices "0", "1", ...
    (MedMNIST) is matched to the model's classes by index.

    Parameters
    ----------
    images
        A loaded data set.
    card
        The model whose classes the labels must become.
    what
        "train" or "validation", for the message.

    Returns
    -------
    ImageSet
        The same images, ``classes`` = the model's, labels indexing them.

    Raises
    ------
    DataError
        The classes differ; the message lists both.
    """
    data_classes = images.classes
    model_classes = card.classes
    by_index = tuple(str(i) for i in range(len(model_classes)))
    if set(data_classes) <= set(by_index) and not set(data_classes) & set(model_classes):
        mapping = {name: int(name) for name in data_classes}
    elif set(data_classes) <= set(model_classes):
        mapping = {name: model_classes.index(name) for name in data_classes}
    else:
        raise DataError(
            f"the {what} images have classes {list(data_classes)} but the model "
            f"'{card.name}' has {list(model_classes)}; use a model trained on these classes or "
            "a data set of the model's classes"
        )
    missing = [model_classes[k] for k in range(len(model_classes)) if k not in mapping.values()]
    if missing:
        raise DataError(
            f"the {what} images have no image of the model's class(es) {missing} (their classes "
            f"are {list(data_classes)}, the model '{card.name}' has {list(model_classes)})"
        )
    table = np.array([mapping[name] for name in data_classes], dtype=np.int64)
    return dataclasses.replace(images, labels=table[images.labels], classes=tuple(model_classes))
