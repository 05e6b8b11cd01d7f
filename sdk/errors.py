"""The errors medsynth raises for bad input.

Every error a user can cause is a :class:`MedsynthError`. Subclasses also derive from the matching builtin, so
``except ValueError`` keeps working for callers that do not know medsynth. Messages name the file or value at
fault and say what to do about it. The command line prints them as one line and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "MedsynthError",
    "ModelError",
    "UnknownClassError",
    "OutputError",
    "DataError",
    "DicomError",
    "MissingExtraError",
    "DeviceError",
    "ArgumentError",
    "SendError",
    "DivergenceError",
]


class MedsynthError(Exception):
    """Base class of every error medsynth raises for bad input or a bad environment."""


class ModelError(MedsynthError, ValueError):
    """A model file is missing, unreadable, not ONNX, or breaks the medsynth model contract."""


class UnknownClassError(MedsynthError, ValueError):
    """A class name or index that the model does not have."""


class OutputError(MedsynthError, OSError):
    """An output folder that cannot be written, or that holds results of a different run."""


class DataError(MedsynthError, ValueError):
    """A data set, labels file or image that cannot be used as given."""


class DicomError(DataError):
    """A DICOM file that cannot be read, decoded or windowed as asked."""


class DeviceError(MedsynthError, RuntimeError):
    """An execution device (e.g. CUDA) that was asked for and could not be had."""


class MissingExtraError(MedsynthError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class ArgumentError(MedsynthError, ValueError):
    """An argument out of its range, e.g. ``n <= 0``, a negative seed or zero threads."""


class SendError(MedsynthError, OSError):
    """A PACS could not be reached, refused the association or the credentials, or did not store a file."""


class DivergenceError(MedsynthError, FloatingPointError):
    """A training run diverged: a loss became NaN or infinite; the message says what to change."""
