"""ISIC challenge ground truth as ISIC publishes it: one 0/1 column per diagnosis.

ISIC 2017's ``ISIC-2017_GroundTruth_*.csv`` has the columns ``image_id,melanoma,seborrheic_keratosis``; a row
with both 0 is a nevus. Values may be written ``0``/``1`` or ``0.0``/``1.0``. Training
(:mod:`medsynth.training.data`) and ``medsynth generate --balance-from`` both read it through this module.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from medsynth.errors import DataError

__all__ = ["ISIC2017_CLASSES", "ISIC2017_ONE_HOT", "is_isic_ground_truth", "isic_class"]

ISIC2017_CLASSES = ("nevus", "melanoma", "seborrheic_keratosis")  # ISIC's order; nevus is "neither"
ISIC2017_ONE_HOT = ("melanoma", "seborrheic_keratosis")  # the 0/1 columns of the ground-truth CSV


def is_isic_ground_truth(columns: Collection[str]) -> bool:
    """Whether a CSV header is ISIC 2017's one-hot ground truth (``image_id``, one column per diagnosis)."""
    return {"image_id", *ISIC2017_ONE_HOT} <= set(columns)


def isic_class(row: Mapping[str, str | None], where: str) -> str:
    """Return the class name of one ground-truth row.

    Parameters
    ----------
    row
        The row as :class:`csv.DictReader` gives it.
    where
        The file and line, for error messages.

    Returns
    -------
    str
        ``"melanoma"``, ``"seborrheic_keratosis"`` or, when both are 0, ``"nevus"``.

    Raises
    ------
    DataError
        A value that is not a number, or a row marked with both diagnoses.
    """
    flags = []
    for column in ISIC2017_ONE_HOT:
        text = (row.get(column) or "").strip()
        try:
            flags.append(float(text) >= 0.5)
        except ValueError as exc:
            raise DataError(
                f"{where}: {column!r} is {text!r}, not 0 or 1 (ISIC ground truth has one 0/1 "
                "column per diagnosis)"
            ) from exc
    if all(flags):
        raise DataError(
            f"{where}: both melanoma and seborrheic_keratosis are 1; a ground-truth row has one diagnosis"
        )
    return next((name for name, flag in zip(ISIC2017_ONE_HOT, flags, strict=True) if flag), "nevus")
