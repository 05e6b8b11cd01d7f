"""Primitives shared by the SDK, training and export, written once.

- Pixel values: a model's images are float in [-1, 1]; stored images are uint8. :func:`to_uint8` is the one
  float -> uint8 mapping (``rint((x + 1) * 127.5)``, round half to even, what :class:`medsynth.Generator`
  returns) and :func:`from_uint8` the one uint8 -> float mapping (``v / 127.5 - 1``, what training feeds the
  networks).
- :func:`is_integer`: the one test for an integer argument (a Python or numpy integer, never a bool);
  :func:`medsynth._checks.check_int` adds the bounds and the message.
- :data:`PHOTOMETRIC`: channels -> DICOM Photometric Interpretation.
- Atomic writes: :func:`atomic_open` and :func:`atomic_write_bytes` of :mod:`medsynth.writers._atomic`
  (temp file in the destination folder, fsynced, ``os.replace``), re-exported so that training and export
  write every file the way generation does.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import numpy as np

from medsynth.writers._atomic import atomic_open, atomic_write_bytes

__all__ = ["PHOTOMETRIC", "atomic_open", "atomic_write_bytes", "from_uint8", "is_integer", "to_uint8"]

PHOTOMETRIC = {1: "MONOCHROME2", 3: "RGB"}  # channels -> DICOM Photometric Interpretation


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Map float images in [-1, 1] to uint8 in [0, 255], element by element (the layout is kept).

    Values outside [-1, 1] are clipped first; ``(x + 1) * 127.5`` is rounded half to even (``np.rint``).
    """
    out: np.ndarray = np.rint((np.clip(images, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    return out


def from_uint8(images: np.ndarray) -> np.ndarray:
    """Map uint8 images in [0, 255] to float32 in [-1, 1], element by element: ``v / 127.5 - 1``."""
    return np.asarray(images).astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def is_integer(value: object) -> TypeGuard[int | np.integer[Any]]:
    """Whether ``value`` is an integer: a Python ``int`` or a numpy integer, but not a ``bool``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
