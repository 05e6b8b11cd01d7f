"""Feature spaces for the distribution metrics: any ONNX feature extractor, or the weight-free default."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medsynth.errors import DataError, ModelError
from medsynth.metrics.radiomics import radiomic_features

__all__ = ["OnnxFeatureExtractor", "DEFAULT_SPACE", "default_features"]

# Name of the weight-free default feature space, as it appears in metrics.json and the report.
DEFAULT_SPACE = "radiomics"

_RANGES = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0), "0,255": (0.0, 255.0)}


def default_features(images: np.ndarray) -> np.ndarray:
    """The default, weight-free feature space: the radiomic features of
    :func:`medsynth.metrics.radiomics.radiomic_features` (first-order statistics, GLCM texture, colour
    statistics). The caller standardises them against the real set before measuring distances."""
    return radiomic_features(images)


@dataclass
class OnnxFeatureExtractor:
    """Features (or logits) of uint8 images from a user-supplied ONNX model, e.g. an Inception-v3 export.

    The model's first input is fed NCHW float32 (or uint8, if that is the input's type) images: resized with
    bilinear filtering to the input's static height and width when it has them, grey images repeated to three
    channels when the model wants three, and float values mapped linearly from [0, 255] to ``value_range``. The
    first output is flattened to (N, D). Nothing is downloaded: the user supplies the file.
    """

    path: Path  # the ONNX model
    value_range: str = "0,1"  # "0,1", "-1,1" or "0,255": the float range the model expects
    batch_size: int = 32  # images per session run
    device: str = "cpu"  # passed to the session factory
    _session: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.value_range not in _RANGES:
            raise DataError(
                f"unknown feature value range {self.value_range!r}; use one of {', '.join(_RANGES)}"
            )
        from medsynth._session import create_session

        self._session = create_session(Path(self.path), device=self.device).session
        inp = self._session.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4:
            raise ModelError(
                f"feature model {self.path}: expected a 4-D NCHW image input, got {inp.name} {shape}"
            )
        self._input_name = inp.name
        self._uint8 = inp.type == "tensor(uint8)"
        self._channels = shape[1] if isinstance(shape[1], int) else None
        self._size = (shape[2], shape[3]) if isinstance(shape[2], int) and isinstance(shape[3], int) else None

    @property
    def name(self) -> str:
        """The feature space's name: ``onnx:<file name>``."""
        return f"onnx:{Path(self.path).name}"

    def _prepare(self, images: np.ndarray) -> np.ndarray:
        from PIL import Image

        a = images if images.ndim == 4 else images[..., None]
        if self._size is not None and a.shape[1:3] != self._size:
            h, w = self._size
            resized = [
                np.asarray(
                    Image.fromarray(im[..., 0] if im.shape[2] == 1 else im).resize(
                        (w, h), Image.Resampling.BILINEAR
                    )
                )
                for im in a
            ]
            a = np.stack([r if r.ndim == 3 else r[..., None] for r in resized])
        if self._channels == 3 and a.shape[3] == 1:
            a = np.repeat(a, 3, axis=3)
        elif self._channels is not None and self._channels != a.shape[3]:
            raise DataError(
                f"feature model {self.path} wants {self._channels} channels, images have {a.shape[3]}"
            )
        nchw = np.ascontiguousarray(a.transpose(0, 3, 1, 2))
        if self._uint8:
            return nchw
        lo, hi = _RANGES[self.value_range]
        return (nchw.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)).astype(np.float32)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Features of a uint8 batch (N, H, W[, C]) as float64 (N, D).

        Raises
        ------
        DataError
            If the images are not uint8 or the channel count cannot be matched.
        ModelError
            If the model fails on the input.
        """
        if images.dtype != np.uint8:
            raise DataError(f"feature extraction needs uint8 images, got {images.dtype}")
        outputs = []
        for start in range(0, images.shape[0], self.batch_size):
            batch = self._prepare(images[start : start + self.batch_size])
            try:
                out = self._session.run(None, {self._input_name: batch})[0]
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ModelError(
                    f"feature model {self.path} failed on a batch of shape {batch.shape}: {exc}"
                ) from exc
            outputs.append(np.asarray(out, dtype=np.float64).reshape(out.shape[0], -1))
        return np.concatenate(outputs)
