"""Integer arguments, checked in one place: every API and CLI entry goes through :func:`check_int`.

The bounds are those of what the values become: seeds and image indices are stored as int64 (NPZ arrays,
DICOM attributes), onnxruntime keeps thread counts in a C ``int``, and one batch must fit in memory.
"""

from __future__ import annotations

from medsynth._primitives import is_integer
from medsynth.errors import ArgumentError

__all__ = ["MAX_SEED", "MAX_INDEX", "MAX_THREADS", "MAX_BATCH_SIZE", "MAX_COUNT", "check_int"]

MAX_SEED = 2**63 - 1  # stored as int64 in NPZ files
MAX_INDEX = 2**63 - 1  # image indices within a class, int64 in NPZ files and manifests
MAX_THREADS = 1024  # onnxruntime intra-op threads
MAX_BATCH_SIZE = 1 << 16  # images per inference call
MAX_COUNT = 2**31 - 1  # other counts (workers, retries, files per request): a C int


def check_int(name: str, value: object, *, low: int, high: int) -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) in ``[low, high]``.

    Parameters
    ----------
    name
        The argument's name, for the message (e.g. ``"seed"`` or ``"--threads"``).
    value
        What the caller passed.
    low, high
        The inclusive bounds.

    Returns
    -------
    int
        The value.

    Raises
    ------
    ArgumentError
        Not an integer, or out of bounds; the message names the argument and the bounds.
    """
    if not is_integer(value):
        raise ArgumentError(f"{name} must be an integer, got {value!r}")
    number = int(value)  # an integer: is_integer said so
    if not low <= number <= high:
        text = str(number) if len(str(number)) <= 30 else f"{str(number)[:12]}...({len(str(number))} digits)"
        raise ArgumentError(f"{name} must be between {low} and {high}, got {text}")
    return number
