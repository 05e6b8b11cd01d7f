"""Per-image latents: a pure function of (seed, class, index)."""

from __future__ import annotations

import numpy as np
import pytest

from medsynth.errors import ArgumentError
from medsynth.seeding import latent, latents


def test_latent_is_the_documented_seed_sequence():
    # The oracle is the documented recipe itself, spelled out with numpy.
    expected = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(2, 41))).standard_normal(
        32, dtype=np.float32
    )
    np.testing.assert_array_equal(latent(7, 2, 41, 32), expected)


def test_rows_do_not_depend_on_which_other_rows_are_asked_for():
    full = latents(3, 1, range(50), 16)
    np.testing.assert_array_equal(latents(3, 1, [49, 0, 17], 16), full[[49, 0, 17]])
    np.testing.assert_array_equal(
        np.concatenate([latents(3, 1, range(k, min(k + 7, 50)), 16) for k in range(0, 50, 7)]), full
    )


def test_seed_class_and_index_each_change_the_latent():
    base = latent(0, 0, 0, 64)
    for other in (latent(1, 0, 0, 64), latent(0, 1, 0, 64), latent(0, 0, 1, 64)):
        assert not np.array_equal(base, other)
    assert latents(0, 0, [], 64).shape == (0, 64)


def test_latents_are_standard_normal():
    z = latents(11, 0, range(4000), 32).ravel()
    assert z.dtype == np.float32
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01  # 128k samples: sd of the mean is 0.003


@pytest.mark.parametrize(("seed", "indices"), [(-1, [0]), (1.5, [0]), (True, [0]), (0, [3, -1])])
def test_bad_seed_or_index(seed, indices):
    with pytest.raises(ArgumentError):
        latents(seed, 0, indices, 4)
