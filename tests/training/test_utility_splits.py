"""Where the utility benchmark finds the train and validation splits, and how classes meet the model's."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.training import class_tree

from medsynth.errors import DataError
from medsynth.training.downstream.splits import load_splits, to_model_classes


def _npz(path, splits=("train", "val")):
    rng = np.random.default_rng(0)
    arrays = {}
    for split in splits:
        arrays[f"{split}_images"] = rng.integers(0, 255, (6, 8, 8), dtype=np.uint8)
        arrays[f"{split}_labels"] = np.array([[0], [1], [0], [1], [0], [1]])
    np.savez(path, **arrays)
    return path


def test_npz_splits_and_classes_by_index(tmp_path, onnx_models):
    card = onnx_models.make_card(classes=("normal", "pneumonia"), channels=1, photometric="MONOCHROME2")
    train, val = load_splits(_npz(tmp_path / "m.npz"), None, image_size=8, channels=1)
    assert len(train.images) == len(val.images) == 6
    relabelled = to_model_classes(train, card, "train")
    assert relabelled.classes == ("normal", "pneumonia")
    np.testing.assert_array_equal(relabelled.labels, train.labels)  # "0" -> normal, "1" -> pneumonia


def test_missing_validation_split_says_what_to_pass(tmp_path):
    with pytest.raises(DataError, match="no usable validation split 'val'.*--val PATH"):
        load_splits(_npz(tmp_path / "m.npz", splits=("train",)), None, image_size=8, channels=1)
    class_tree(tmp_path / "flat", {"a": 2, "b": 2})
    with pytest.raises(DataError, match="no validation split; arrange it as .*/train/<class>/"):
        load_splits(tmp_path / "flat", None, image_size=8, channels=3)
    with pytest.raises(DataError, match="does not exist"):
        load_splits(tmp_path / "flat", tmp_path / "nowhere", image_size=8, channels=3)


def test_separate_validation_tree_and_class_order(tmp_path, onnx_models):
    class_tree(tmp_path / "train", {"melanoma": 2, "nevus": 3, "seborrheic_keratosis": 2})
    class_tree(tmp_path / "held", {"melanoma": 2, "nevus": 2, "seborrheic_keratosis": 2})
    train, val = load_splits(tmp_path / "train", tmp_path / "held", image_size=8, channels=3)
    card = onnx_models.make_card()  # classes nevus, melanoma, seborrheic_keratosis
    model_order = to_model_classes(train, card, "train")
    assert model_order.counts() == {"nevus": 3, "melanoma": 2, "seborrheic_keratosis": 2}
    for k, name in enumerate(model_order.classes):  # every image keeps its class name
        np.testing.assert_array_equal(train.labels[model_order.labels == k], train.classes.index(name))
    partial = to_model_classes(val, card, "validation")
    assert partial.classes == card.classes
    with pytest.raises(DataError, match=r"no image of the model's class\(es\) \['seborrheic_keratosis'\]"):
        class_tree(tmp_path / "two", {"melanoma": 2, "nevus": 2})
        to_model_classes(
            load_splits(tmp_path / "train", tmp_path / "two", image_size=8, channels=3)[1], card, "validation"
        )
