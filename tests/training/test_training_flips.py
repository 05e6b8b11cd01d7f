"""Flips of the real set: eight distinct dihedral transforms; a batch transforms like its images."""

from __future__ import annotations

import numpy as np

from medsynth.training.flips import TRANSFORMS, flip


def test_the_dihedral_group_has_eight_distinct_members_and_x_mirrors():
    image = np.arange(3 * 3 * 2).reshape(3, 3, 2)
    seen = {flip(image, t, "dihedral").tobytes() for t in range(TRANSFORMS["dihedral"])}
    assert len(seen) == 8
    np.testing.assert_array_equal(flip(image, 1, "x"), image[:, ::-1])
    np.testing.assert_array_equal(flip(image, 0, "none"), image)


def test_a_batch_is_transformed_image_by_image():
    batch = np.random.default_rng(0).integers(0, 255, (4, 5, 5, 3))
    for mode in ("x", "dihedral"):
        for t in range(TRANSFORMS[mode]):
            np.testing.assert_array_equal(flip(batch, t, mode), np.stack([flip(im, t, mode) for im in batch]))
