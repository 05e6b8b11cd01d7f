"""Networks: shapes, finite losses and gradients for every architecture; StyleGAN's mixing and modulated
convolution against their definitions; ONNX export of the new generators with a dynamic batch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.training import ARCHS, tiny_config

from medsynth.errors import ArgumentError
from medsynth.training.losses import d_loss, g_loss, gradient_penalty, r1_penalty
from medsynth.training.nets import arch_names, get_arch
from medsynth.training.nets.factory import build_networks
from medsynth.training.nets.modconv import ModulatedConv2d
from medsynth.training.nets.projected import PIXEL_WINDOW


def test_registry_lists_the_architectures_and_refuses_unknown():
    assert arch_names() == sorted(ARCHS)
    with pytest.raises(
        ArgumentError, match="unknown architecture 'biggan'.*dcgan, projected, sngan, sngan-aa, sngan-cnn"
    ):
        get_arch("biggan")


@pytest.mark.parametrize("size,channels", [(16, 3), (32, 1)])
@pytest.mark.parametrize("arch,lstm", [(a, False) for a in ARCHS] + [("wgan-gp", True)])
def test_forward_backward_shapes_and_finite_losses(arch, lstm, size, channels):
    config = tiny_config(arch, image_size=size, lstm=lstm)
    torch.manual_seed(0)
    g, d = build_networks(config, num_classes=3, channels=channels)
    z, y = torch.randn(4, config.latent_dim), torch.tensor([0, 1, 2, 1])
    fake = g(z, y)
    assert fake.shape == (4, channels, size, size)
    assert fake.abs().max() <= 1.0
    real = torch.rand(4, channels, size, size) * 2 - 1
    s_real, s_fake = d(real, y), d(fake.detach(), y)
    heads = 4 if arch == "projected" else None  # one logit per pyramid scale
    assert s_real.shape == s_fake.shape == ((4, heads) if heads else (4,))
    kind = get_arch(arch).default_loss
    loss = d_loss(kind, s_real, s_fake)
    penalty = (
        gradient_penalty(lambda t: d(t, y), real, fake, torch.Generator().manual_seed(1))
        if kind == "wasserstein"
        else r1_penalty(lambda t: d(t, y), real)
    )
    (loss + penalty).backward()
    lg = g_loss(kind, d(fake, y))
    g.zero_grad()
    lg.backward()
    for value in (loss, penalty, lg):
        assert math.isfinite(value.item())
    for net in (g, d):
        grads = [p.grad for p in net.parameters() if p.requires_grad]
        assert grads and all(gr is not None and torch.isfinite(gr).all() for gr in grads)
        assert any(gr.abs().sum() > 0 for gr in grads)


def test_lstm_is_refused_for_architectures_without_it():
    with pytest.raises(ArgumentError, match="lstm is not an option of the sngan"):
        build_networks(tiny_config("sngan", lstm=True), 2, 3)


def test_wgan_gp_critic_has_no_batch_norm_and_lstm_is_two_layers():
    g, d = build_networks(tiny_config("wgan-gp", lstm=True), 2, 3)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in d.modules())
    assert g.lstm.num_layers == 2


def test_modulated_conv_equals_a_per_sample_convolution_with_demodulated_weights():
    torch.manual_seed(0)
    layer = ModulatedConv2d(3, 5, 3, w_dim=4)
    x, w = torch.randn(2, 3, 6, 6), torch.randn(2, 4)
    out = layer(x, w)
    styles = layer.affine(w)
    for n in range(2):  # the StyleGAN2 definition, one sample at a time
        weight = layer.weight * layer.scale * styles[n][None, :, None, None]
        weight = weight * torch.rsqrt(weight.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        expected = F.conv2d(x[n : n + 1], weight, padding=1) + layer.bias[None, :, None, None]
        torch.testing.assert_close(out[n : n + 1], expected, rtol=1e-5, atol=1e-5)


def test_style_mixing_switches_latents_at_the_crossover_layer():
    torch.manual_seed(0)
    g, _ = build_networks(tiny_config("stylegan"), 2, 3)
    g.eval()
    z, z2, y = torch.randn(3, 8), torch.randn(3, 8), torch.tensor([0, 1, 0])
    plain = g(z, y)
    none = torch.full((3,), g.num_ws, dtype=torch.int64)
    torch.testing.assert_close(g(z, y, z2, none), plain, rtol=0, atol=0)  # crossover after the last layer
    torch.testing.assert_close(g(z, y, z, torch.ones(3, dtype=torch.int64)), plain, rtol=0, atol=0)
    mixed = g(z, y, z2, torch.tensor([1, g.num_ws, 2]))
    assert not torch.allclose(mixed[0], plain[0]) and not torch.allclose(mixed[2], plain[2])
    torch.testing.assert_close(mixed[1], plain[1], rtol=0, atol=0)
    assert not torch.allclose(mixed[0], g(z2, y)[0])  # layer 0 still takes w(z)


@pytest.mark.parametrize("arch,lstm", [("wgan-gp", True), ("stylegan", False)])
def test_generator_exports_to_onnx_with_dynamic_batch(arch, lstm, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    g, _ = build_networks(tiny_config(arch, lstm=lstm), 3, 1)
    g.eval()
    path = tmp_path / "g.onnx"
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's own deprecation and torchvision notices
        torch.onnx.export(
            g,
            (torch.randn(2, 8), torch.tensor([0, 2])),
            str(path),
            dynamo=True,
            input_names=["z", "label"],
            output_names=["image"],
            dynamic_shapes=({0: batch}, {0: batch}),
            verbose=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "label"]
    for n in (1, 5):
        z, y = torch.randn(n, 8), torch.arange(n) % 3
        out = session.run(["image"], {"z": z.numpy(), "label": y.numpy()})[0]
        with torch.no_grad():
            expected = g(z, y).numpy()
        assert out.shape == (n, 1, 16, 16)
        assert np.abs(out - expected).max() < 1e-4


def test_binomial_blur_has_the_frequency_response_of_its_filter():
    from medsynth.training.nets.layers import binomial_blur

    i = torch.arange(16, dtype=torch.float64)
    constant = torch.full((1, 2, 16, 16), 3.0, dtype=torch.float64)
    torch.testing.assert_close(binomial_blur(constant), constant)  # DC gain 1, borders included (reflect)
    nyquist = ((-1.0) ** (i[:, None] + i[None, :]))[None, None]
    torch.testing.assert_close(binomial_blur(nyquist), torch.zeros_like(nyquist))  # H(1/2) = 0: no aliasing
    period4 = torch.cos(2 * math.pi * i / 4)[None, None, None, :].expand(1, 1, 16, 16)
    out = binomial_blur(period4)
    # H(f) = cos^2(pi f) = 1/2 at f = 1/4
    torch.testing.assert_close(out[..., 1:-1], 0.5 * period4[..., 1:-1])


def test_anti_aliased_discriminator_ignores_a_nyquist_pattern_a_strided_one_aliases():
    torch.manual_seed(0)
    aa = build_networks(tiny_config("sngan-aa"), 3, 3)[1].eval()
    strided = build_networks(tiny_config("sngan-cnn"), 3, 3)[1].eval()
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.tensor([0, 2])
    i = torch.arange(16)
    lattice = 0.5 * ((-1.0) ** (i[:, None] + i[None, :])).expand(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(aa(x + lattice, y), aa(x, y), rtol=1e-4, atol=1e-5)
        assert (strided(x + lattice, y) - strided(x, y)).abs().max() > 1e-3


@pytest.mark.parametrize("channels", [1, 3])
def test_the_projected_pixel_head_is_a_fifth_logit_that_sees_one_pixel(channels):
    config = tiny_config("projected", image_size=32, pixel_head=True)
    torch.manual_seed(0)
    _, d = build_networks(config, num_classes=3, channels=channels)
    d.eval()  # batch norm in eval mode: each image's scores depend on that image alone
    x, y = torch.rand(2, channels, 32, 32) * 2 - 1, torch.tensor([0, 2])
    speck = x.clone()
    speck[0, :, 17, 9] = -speck[0, :, 17, 9]  # one pixel of the first image
    with torch.no_grad():
        a, b = d(x, y), d(speck, y)
    assert a.shape == (2, 5)
    assert (a[0, 0] - b[0, 0]).abs() > 1e-6  # the pixel head's logit moves
    torch.testing.assert_close(a[1], b[1])  # the other image's scores do not
    keys = d.state_dict().keys()
    assert any(k.startswith("pixel.") for k in keys) and not any(k.startswith("pyramid.") for k in keys)


def test_the_pixel_head_reads_moving_windows_that_cover_every_pixel_evenly():
    config = tiny_config("projected", image_size=64, pixel_head=True)
    d = build_networks(config, num_classes=3, channels=3)[1]
    assert d.pixel.window == PIXEL_WINDOW < 64
    index = torch.arange(64 * 64, dtype=torch.float32).view(1, 1, 64, 64)
    reads = torch.zeros(64 * 64)
    for _ in range(400):  # 400 windows of a quarter of the image: each pixel about 100 times
        window = d.pixel._crop(index)
        assert window.shape[-2:] == (PIXEL_WINDOW, PIXEL_WINDOW)
        reads[window.flatten().long()] += 1
    assert reads.min() >= 90 and reads.max() <= 110  # the corners as often as the centre
    assert int(d.state_dict()["pixel.calls"]) == 400  # the window's position resumes with the checkpoint
    d.eval()
    torch.testing.assert_close(d.pixel._crop(index), index[..., 16:48, 16:48])  # eval: the centre, no count
    assert int(d.pixel.calls) == 400


def test_bilinear_up_sampling_is_nearest_then_a_1_2_1_smoothing_and_leaves_no_block_edges():
    """Oracle: bilinear 2x (half-pixel centres) equals nearest 2x followed by [1, 2, 1] / 4 along each axis
    away from the borders; nearest 2x makes 2x2 blocks, a pattern of period two that bilinear does not."""
    from medsynth.training.nets.fastgan import _UpBlock

    block = _UpBlock(3, 3, num_classes=2, convs=1, bilinear=True)
    assert block.mode == "bilinear" and _UpBlock(3, 3, 2, 1).mode == "nearest"
    x = torch.rand(2, 3, 8, 8)
    up = F.interpolate(x, scale_factor=2.0, mode=block.mode)
    near = F.interpolate(x, scale_factor=2.0, mode="nearest")
    k = torch.tensor([1.0, 2.0, 1.0]) / 4
    kernel = (k[:, None] * k[None, :])[None, None]
    smooth = F.conv2d(near.reshape(-1, 1, 16, 16), kernel).reshape(2, 3, 14, 14)
    torch.testing.assert_close(up[..., 1:-1, 1:-1], smooth)
    assert (near[..., 0::2, :] == near[..., 1::2, :]).all()  # the blocks nearest up-sampling leaves
    assert not (up[..., 0::2, :] == up[..., 1::2, :]).any()


def test_the_bilinear_generator_changes_only_the_up_sampling():
    torch.manual_seed(0)
    g_nearest = build_networks(tiny_config("projected"), 3, 3)[0].eval()
    torch.manual_seed(0)
    g_bilinear = build_networks(tiny_config("projected", bilinear=True), 3, 3)[0].eval()
    assert g_nearest.state_dict().keys() == g_bilinear.state_dict().keys()
    for key, value in g_nearest.state_dict().items():
        assert torch.equal(value, g_bilinear.state_dict()[key]), key  # the same weights from the same seed
    z, y = torch.randn(2, 8), torch.tensor([0, 2])
    with torch.no_grad():
        assert not torch.allclose(g_nearest(z, y), g_bilinear(z, y))
    refusal = "bilinear is not an option of the sngan architecture's generator; it is one of projected's"
    with pytest.raises(ArgumentError, match=refusal):
        build_networks(tiny_config("sngan", bilinear=True), num_classes=3, channels=3)


def test_the_pixel_head_is_refused_for_other_architectures():
    refusal = "pixel_head is not an option of the sngan architecture's discriminator; it is one of projected"
    with pytest.raises(ArgumentError, match=refusal):
        build_networks(tiny_config("sngan", pixel_head=True), num_classes=3, channels=3)
