"""Tiny class-conditional ONNX generators built with the onnx helper API (no torch).

The default tiny generator is a small DCGAN-like graph::

    h = z + embedding[label]                  (N, latent_dim)
    x = reshape(h @ W, (N, 8, S/2, S/2))      project
    image = tanh(conv_transpose(x, K, stride 2, pad 1) * gain)   (N, C, S, S)

and :func:`reference_images` computes the same network with numpy, as an independent oracle. Graphs are
pinned to IR version 10 and opset 17 and stamped with medsynth's own :func:`stamp_card`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from medsynth.model_card import ModelCard, stamp_card

HIDDEN = 8  # channels of the projected feature map


def make_card(**changes: Any) -> ModelCard:
    """A valid card of a 3-class, 8x8 RGB model; ``changes`` override fields."""
    card = ModelCard(
        schema_version=1,
        name="tiny-test",
        arch="tiny-dcgan",
        classes=("nevus", "melanoma", "seborrheic_keratosis"),
        latent_dim=16,
        image_size=8,
        channels=3,
        photometric="RGB",
        modality="XC",
        intensity={"kind": "display"},
        license="Apache-2.0",
        intended_use="Synthetic research data; not for diagnosis.",
        medsynth_version="0.1.0",
        description="tiny generator for tests",
        provenance={"dataset": "none (random weights)", "images_per_class": {"nevus": 3, "melanoma": 2}},
        metrics={},
    )
    return dataclasses.replace(card, **changes) if changes else card


@dataclasses.dataclass(frozen=True)
class TinyWeights:
    """The weights of a tiny generator, so tests can run the same network in numpy."""

    embedding: np.ndarray  # (classes, latent_dim)
    project: np.ndarray  # (latent_dim, HIDDEN * (S/2)^2)
    kernel: np.ndarray  # (HIDDEN, C, 4, 4), ConvTranspose weight layout
    gain: float


def tiny_weights(card: ModelCard, seed: int = 0) -> TinyWeights:
    rng = np.random.default_rng(seed)
    half = card.image_size // 2
    return TinyWeights(
        embedding=rng.standard_normal((len(card.classes), card.latent_dim)).astype(np.float32),
        project=(
            rng.standard_normal((card.latent_dim, HIDDEN * half * half)) / np.sqrt(card.latent_dim)
        ).astype(np.float32),
        kernel=(rng.standard_normal((HIDDEN, card.channels, 4, 4)) / 4.0).astype(np.float32),
        gain=0.7,
    )


def build_model(
    card: ModelCard,
    *,
    weights: TinyWeights | None = None,
    graph_latent_dim: int | None = None,
    graph_channels: int | None = None,
    nan: bool = False,
    stamp: bool = True,
    z_name: str = "z",
) -> Any:
    """Return an onnx ModelProto of the tiny generator for ``card``.

    ``graph_latent_dim``/``graph_channels`` make the graph disagree with the card; ``nan`` multiplies the
    output by NaN; ``stamp=False`` leaves the medsynth metadata out; ``z_name`` renames the latent input.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = weights or tiny_weights(card)
    latent = graph_latent_dim or card.latent_dim
    channels = graph_channels or card.channels
    size, half = card.image_size, card.image_size // 2
    embedding = w.embedding[:, :latent]
    project = w.project[:latent]
    kernel = w.kernel[:, :channels] if channels <= w.kernel.shape[1] else np.repeat(w.kernel, channels, 1)
    inits = [
        numpy_helper.from_array(np.ascontiguousarray(embedding), "embedding"),
        numpy_helper.from_array(np.ascontiguousarray(project), "project"),
        numpy_helper.from_array(np.ascontiguousarray(kernel), "kernel"),
        numpy_helper.from_array(np.array([-1, HIDDEN, half, half], dtype=np.int64), "feature_shape"),
        numpy_helper.from_array(np.array(np.nan if nan else w.gain, dtype=np.float32), "gain"),
    ]
    nodes = [
        helper.make_node("Gather", ["embedding", "label"], ["class_vec"], axis=0),
        helper.make_node("Add", [z_name, "class_vec"], ["h"]),
        helper.make_node("MatMul", ["h", "project"], ["flat"]),
        helper.make_node("Reshape", ["flat", "feature_shape"], ["features"]),
        helper.make_node(
            "ConvTranspose",
            ["features", "kernel"],
            ["up"],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            kernel_shape=[4, 4],
        ),
        helper.make_node("Mul", ["up", "gain"], ["scaled"]),
        helper.make_node("Tanh", ["scaled"], ["image"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_generator",
        [
            helper.make_tensor_value_info(z_name, TensorProto.FLOAT, ["batch", latent]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
        ],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", channels, size, size])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10, producer_name="medsynth-tests"
    )
    onnx.checker.check_model(model)
    if stamp:
        stamp_card(model, card)
    return model


def reference_images(card: ModelCard, weights: TinyWeights, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The tiny generator in float64 numpy: uint8 (N, H, W, C), the oracle for Generator's output."""
    h = z.astype(np.float64) + weights.embedding[labels].astype(np.float64)
    half = card.image_size // 2
    features = (h @ weights.project.astype(np.float64)).reshape(len(z), HIDDEN, half, half)
    kernel = weights.kernel.astype(np.float64)
    # ConvTranspose, stride 2, pad 1, 4x4 kernel: scatter every input pixel's kernel footprint, then crop.
    full = np.zeros((len(z), card.channels, 2 * half + 2, 2 * half + 2))
    for i in range(half):
        for j in range(half):
            footprint = np.einsum("nk,kcab->ncab", features[:, :, i, j], kernel)
            full[:, :, 2 * i : 2 * i + 4, 2 * j : 2 * j + 4] += footprint
    up = full[:, :, 1:-1, 1:-1]
    image = np.tanh(up * weights.gain)
    return np.rint((image + 1.0) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)
