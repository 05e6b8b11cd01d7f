"""DiffAugment: differentiable (torch.autograd.gradcheck against finite differences), reproducible under a
seeded generator, and each operation doing what its definition says."""

from __future__ import annotations

import pytest
import torch

from medsynth.errors import ArgumentError
from medsynth.training.augment import POLICIES, diff_augment, parse_policy


def _augment(policy: tuple[str, ...], seed: int = 0):
    return lambda x: diff_augment(x, policy, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("policy", [(p,) for p in POLICIES] + [POLICIES])
def test_gradcheck(policy):
    x = (torch.rand(2, 3, 8, 8, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert torch.autograd.gradcheck(_augment(policy), (x,), eps=1e-6, atol=1e-5)


def test_gradient_reaches_the_input_finite_and_non_zero():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    _augment(POLICIES)(x).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_reproducible_under_a_seeded_generator_and_different_for_another_seed():
    x = torch.rand(4, 3, 16, 16)
    a, b, c = _augment(POLICIES, 3)(x), _augment(POLICIES, 3)(x), _augment(POLICIES, 4)(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_translation_moves_the_image_and_pads_with_zeros():
    x = torch.arange(1, 65, dtype=torch.float32).view(1, 1, 8, 8).repeat(16, 1, 1, 1)
    out = _augment(("translation",))(x)
    for image in out[:, 0]:
        nonzero = image[image != 0]
        # every kept value is a pixel of the input, in the same row-major order (a pure shift)
        assert torch.all(nonzero[1:] > nonzero[:-1])
        assert set(nonzero.tolist()) <= set(range(1, 65))
    assert (out == 0).any()


def test_cutout_zeroes_one_square_of_half_the_side():
    x = torch.ones(16, 1, 16, 16)
    out = _augment(("cutout",))(x)
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert torch.all(zeros > 0) and torch.all(zeros <= 64)  # an 8x8 square, clipped at the border
    assert torch.any(zeros == 64)


def test_color_on_a_grey_image_changes_brightness_and_contrast_only():
    x = torch.full((4, 1, 8, 8), 0.25)
    out = _augment(("color",))(x)
    assert torch.all(out.flatten(1).std(dim=1) < 1e-6)  # a flat image stays flat
    assert not torch.allclose(out, x)


def test_unknown_policy_is_a_data_error():
    assert parse_policy(" color, cutout ") == ("color", "cutout")
    with pytest.raises(ArgumentError, match="unknown DiffAugment policy 'rotate'"):
        parse_policy("color,rotate")
