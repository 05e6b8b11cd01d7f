"""plan_balance and the labels CSV it is fed from."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from medsynth import plan_balance
from medsynth.balance import counts_by_class, read_label_counts
from medsynth.errors import ArgumentError, DataError

ISIC_LABELS = Path(__file__).resolve().parents[3] / "shared" / "data" / "isic2017" / "labels.csv"
ISIC_TRAIN = {"nevus": 1372, "melanoma": 374, "seborrheic_keratosis": 254}


def test_max_tops_every_class_up_to_the_largest():
    assert plan_balance(ISIC_TRAIN) == {"nevus": 0, "melanoma": 998, "seborrheic_keratosis": 1118}
    plan = plan_balance(ISIC_TRAIN)
    assert {name: ISIC_TRAIN[name] + plan[name] for name in plan} == dict.fromkeys(ISIC_TRAIN, 1372)


def test_integer_target_never_removes_images():
    assert plan_balance(ISIC_TRAIN, 500) == {"nevus": 0, "melanoma": 126, "seborrheic_keratosis": 246}
    assert plan_balance(ISIC_TRAIN, 0) == {"nevus": 0, "melanoma": 0, "seborrheic_keratosis": 0}


def test_mapping_target_sets_totals_and_adds_absent_classes():
    plan = plan_balance({"a": 10, "b": 3}, {"b": 8, "c": 4})
    assert plan == {"a": 0, "b": 5, "c": 4}


@pytest.mark.parametrize(
    ("counts", "target"),
    [
        ({"a": -1}, "max"),
        ({"a": 1.5}, "max"),
        ({"a": True}, "max"),
        ({}, "max"),
        ({"a": 1}, "min"),
        ({"a": 1}, -3),
        ({"a": 1}, {"a": -1}),
        ({"a": 1}, 2.5),
    ],
)
def test_bad_counts_or_targets(counts, target):
    with pytest.raises(ArgumentError):
        plan_balance(counts, target)


def _write_csv(path, header, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_read_label_counts(tmp_path):
    path = _write_csv(
        tmp_path / "labels.csv",
        ["image_id", "diagnosis"],
        [("a", "nevus"), ("b", " melanoma "), ("c", "nevus")],
    )
    assert read_label_counts(path, "diagnosis") == Counter({"nevus": 2, "melanoma": 1})


@pytest.mark.parametrize(
    ("header", "rows", "match"),
    [
        (["image_id", "label"], [("a", "nevus")], "no column 'diagnosis'; its columns are image_id, label"),
        (["image_id", "diagnosis"], [], "no rows"),
        (["image_id", "diagnosis"], [("a", "")], "line 2: empty 'diagnosis'"),
    ],
)
def test_bad_labels_files(tmp_path, header, rows, match):
    path = _write_csv(tmp_path / "labels.csv", header, rows)
    with pytest.raises(DataError, match=match):
        read_label_counts(path, "diagnosis")


def test_empty_missing_and_binary_labels_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00bad")
    for path, match in ((empty, "is empty"), (tmp_path / "absent.csv", "cannot read"), (binary, "UTF-8")):
        with pytest.raises(DataError, match=match):
            read_label_counts(path, "diagnosis")


def test_counts_by_class_maps_names_and_indices(onnx_models):
    card = onnx_models.make_card()
    counts = counts_by_class({"melanoma": 4, "0": 2, "nevus": 1}, card, source="l.csv")
    assert counts == {"nevus": 3, "melanoma": 4}
    with pytest.raises(DataError, match="does not know: 7, basal_cell.*0=nevus"):
        counts_by_class({"basal_cell": 1, "7": 2, "nevus": 1}, card, source="l.csv")


@pytest.mark.skipif(not ISIC_LABELS.is_file(), reason=f"real ISIC 2017 labels not present at {ISIC_LABELS}")
def test_real_isic_labels_give_the_published_counts():
    with ISIC_LABELS.open(newline="") as handle:
        train = [row for row in csv.DictReader(handle) if row["split"] == "train"]
    assert Counter(row["diagnosis"] for row in train) == ISIC_TRAIN
    counts = read_label_counts(ISIC_LABELS, "diagnosis")
    assert sum(counts.values()) == 2150 and set(counts) == set(ISIC_TRAIN)
