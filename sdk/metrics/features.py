"""Feature spaces for the distribution metrics: any ONNX feature extractor, or the weight-free default."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medsynth.errors import DataError, ModelError
from medsynth.metrics.radiomics import radiomic_features

__all__ = [
    "OnnxFeatureExtractor",
    "DEFAULT_SPACE",
    "default_features",
    "BundledFeatures",
    "BUNDLED_FEATURES",
    "load_feature_extractor",
]

# Name of the weight-free default feature space, as it appears in metrics.json and the report.
DEFAULT_SPACE = "radiomics"

# Side of the images the bundled EfficientNet-Lite0 extractor sees (its ImageNet training resolution); every
# image is resized to it, whatever the set's own size, as FID resizes to Inception's 299.
FEATURE_INPUT_SIZE = 224


@dataclass(frozen=True)
class BundledFeatures:
    """A feature extractor shipped inside the package (folder ``medsynth/features/``)."""

    name: str  # what --features takes, and the space's name in metrics.json
    file_name: str  # the ONNX file inside medsynth/features/
    description: str  # one line for help texts and errors
    sha256: str  # hex sha256 of the file; a mismatch at load time means a damaged install


# Rebuild with examples/export_features.py (it prints the sha256); the licence is in medsynth/features/NOTICE.
BUNDLED_FEATURES: tuple[BundledFeatures, ...] = (
    BundledFeatures(
        name="efficientnet-lite0",
        file_name="efficientnet-lite0.onnx",
        description=f"ImageNet EfficientNet-Lite0, global-pooled 1,280 features of {FEATURE_INPUT_SIZE}x"
        f"{FEATURE_INPUT_SIZE} RGB (Apache-2.0 weights)",
        sha256="13a22f6f8ab650ab9c70960dc27b95c5583291013389162a3865758a4499050a",
    ),
)

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
    channels when the model wants three, and float values mapped linearly from [0, 255] to ``value_range``.
    The first output is flattened to (N, D). Nothing is downloaded: the user supplies the file.
    """

    path: Path  # the ONNX model
    space: str | None = None  # the space's name in the results (default: onnx:<file name>)
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
        """The feature space's name: the bundled extractor's name, else ``onnx:<file name>``."""
        return self.space or f"onnx:{Path(self.path).name}"

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


def features_dir() -> Path:
    """The package folder that holds the bundled feature extractors."""
    return Path(__file__).resolve().parents[1] / "features"


def load_feature_extractor(
    spec: str | Path, *, value_range: str = "0,1", device: str = "cpu"
) -> OnnxFeatureExtractor:
    """A bundled feature extractor by name (see :data:`BUNDLED_FEATURES`), or any ONNX feature model by path.

    Parameters
    ----------
    spec : str or pathlib.Path
        ``"efficientnet-lite0"`` or the path of an ONNX file.
    value_range : str
        Float input range of a user's model (``"0,1"``, ``"-1,1"``, ``"0,255"``); the bundled extractors take
        uint8 pixels and normalise inside the graph, so it does not apply to them.
    device : str
        Passed to the session factory.

    Returns
    -------
    OnnxFeatureExtractor
        Ready to call on uint8 batches.

    Raises
    ------
    ModelError
        ``spec`` is neither a bundled name nor an existing file, or a bundled file is missing or damaged.
    """
    bundled = {b.name: b for b in BUNDLED_FEATURES}
    if str(spec) in bundled:
        entry = bundled[str(spec)]
        path = features_dir() / entry.file_name
        if not path.is_file():
            raise ModelError(
                f"bundled feature extractor {entry.name!r}: its file {path} is missing; reinstall medsynth"
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != entry.sha256:
            raise ModelError(
                f"bundled feature extractor {path} is damaged (sha256 {digest}, expected "
                f"{entry.sha256}); reinstall medsynth"
            )
        return OnnxFeatureExtractor(path, space=entry.name, device=device)
    path = Path(spec)
    if not path.is_file():
        raise ModelError(
            f"no feature model file and no bundled feature space named {str(spec)!r}; give the "
            f"path of an ONNX feature extractor or one of: {', '.join(bundled)}"
        )
    return OnnxFeatureExtractor(path, value_range=value_range, device=device)
