"""How many synthetic images of each class balance a data set; the real counts from a labels CSV."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from medsynth._primitives import is_integer
from medsynth.errors import ArgumentError, DataError
from medsynth.imageset.isic import ISIC2017_ONE_HOT, is_isic_ground_truth, isic_class
from medsynth.model_card import ModelCard, shorten_list

__all__ = ["plan_balance", "read_label_counts", "counts_by_class"]


def _is_count(value: object) -> bool:
    return is_integer(value) and int(value) >= 0


def plan_balance(counts: Mapping[str, int], target: str | int | Mapping[str, int] = "max") -> dict[str, int]:
    """Return how many images of each class to generate so that every class reaches the target.

    Parameters
    ----------
    counts
        Real images per class, e.g. ``{"nevus": 1372, "melanoma": 374}``.
    target
        ``"max"``: every class up to the largest count. An ``int``: every class up to that many. A mapping
        class -> wanted total: those classes up to their totals (a class missing from ``counts`` has 0 real
        images), the others get nothing. A class already at or above its target gets 0; nothing is removed.

    Returns
    -------
    dict[str, int]
        Images to generate per class: the classes of ``counts`` in their order, then any further classes of a
        mapping target.

    Raises
    ------
    ArgumentError
        A negative or non-integer count or target, an unknown target string, or empty ``counts`` with
        ``"max"``.

    Examples
    --------
    >>> plan_balance({"nevus": 1372, "melanoma": 374, "seborrheic_keratosis": 254})
    {'nevus': 0, 'melanoma': 998, 'seborrheic_keratosis': 1118}
    >>> plan_balance({"a": 10, "b": 3}, target=5)
    {'a': 0, 'b': 2}
    """
    for name, count in counts.items():
        if not _is_count(count):
            raise ArgumentError(f"count of class {name!r} must be a non-negative integer, got {count!r}")
    if isinstance(target, str):
        if target != "max":
            raise ArgumentError(
                f"target must be 'max', a non-negative integer or a class -> total mapping, got {target!r}"
            )
        if not counts:
            raise ArgumentError("target 'max' needs at least one class count")
        top = max(int(c) for c in counts.values())
        return {name: top - int(count) for name, count in counts.items()}
    if isinstance(target, Mapping):
        for name, total in target.items():
            if not _is_count(total):
                raise ArgumentError(f"target of class {name!r} must be a non-negative integer, got {total!r}")
        names = list(counts) + [name for name in target if name not in counts]
        return {
            name: max(0, int(target.get(name, 0)) - int(counts.get(name, 0))) if name in target else 0
            for name in names
        }
    if not _is_count(target):
        raise ArgumentError(
            f"target must be 'max', a non-negative integer or a class -> total mapping, got {target!r}"
        )
    return {name: max(0, int(target) - int(count)) for name, count in counts.items()}


def read_label_counts(path: Path, column: str) -> Counter[str]:
    """Count the values of one column of a labels CSV.

    ISIC's own ground truth (``image_id`` and one 0/1 column per diagnosis, see :mod:`medsynth.isic`) is
    recognised by its header and read as training reads it: each row is melanoma, seborrheic_keratosis or,
    when both are 0, nevus. ``column`` is then ignored unless the file also has that column.

    Parameters
    ----------
    path
        A CSV file with a header row.
    column
        The column that holds each image's class (e.g. ``diagnosis``).

    Returns
    -------
    collections.Counter
        Rows per value (values stripped of surrounding blanks).

    Raises
    ------
    DataError
        The file is missing or unreadable, has no header, lacks ``column`` (the message lists the columns),
        has an empty value in it, or has no rows.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None:
                raise DataError(
                    f"labels file {path} is empty; it needs a header row with a {column!r} column"
                )
            one_hot = is_isic_ground_truth(reader.fieldnames) and (
                column not in reader.fieldnames or column in ISIC2017_ONE_HOT
            )
            if not one_hot and column not in reader.fieldnames:
                raise DataError(
                    f"labels file {path} has no column {column!r}; its columns are "
                    f"{', '.join(reader.fieldnames)}. Pass --label-column with one of them"
                )
            counts: Counter[str] = Counter()
            for line, row in enumerate(reader, start=2):
                if one_hot:
                    counts[isic_class(row, f"labels file {path}, line {line}")] += 1
                    continue
                value = (row.get(column) or "").strip()
                if not value:
                    raise DataError(f"labels file {path}, line {line}: empty {column!r} value")
                counts[value] += 1
    except OSError as exc:
        raise DataError(f"cannot read labels file {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"labels file {path} is not a UTF-8 CSV file ({exc})") from exc
    if not counts:
        raise DataError(f"labels file {path} has a header but no rows")
    return counts


def counts_by_class(counts: Mapping[str, int], card: ModelCard, *, source: str) -> dict[str, int]:
    """Map label values (class names, or class indices written as integers) to the model's class names.

    Parameters
    ----------
    counts
        Rows per label value, as :func:`read_label_counts` returns them.
    card
        The model whose classes the labels must be.
    source
        The labels file, for error messages.

    Returns
    -------
    dict[str, int]
        Rows per class name, in the model's class order; classes absent from the labels are left out.

    Raises
    ------
    DataError
        A label value that is neither a class name nor a class index of the model (the message lists both).
    """
    by_class: Counter[str] = Counter()
    unknown = []
    for value, count in counts.items():
        if value in card.classes:
            by_class[value] += count
        elif value.isdigit() and int(value) < len(card.classes):
            by_class[card.classes[int(value)]] += count
        else:
            unknown.append(value)
    if unknown:
        names = shorten_list(sorted(unknown)[:20], len(unknown), more="fix the labels or choose their model")
        raise DataError(
            f"labels file {source} has classes the model '{card.name}' does not know: "
            f"{names}; the model's classes are {card.classes_text()}"
        )
    return {name: by_class[name] for name in card.classes if name in by_class}
