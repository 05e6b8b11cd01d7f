"""The radiomic validation FD leaves torch's thread count alone (Numba's OpenMP layer would change it)."""

from __future__ import annotations

import numpy as np
import torch
from helpers.training import tiny_image_set

from medsynth.metrics.radiomics import frechet_radiomics_distance
from medsynth.training.validation import radiomic_fd


def test_radiomic_fd_keeps_torch_threads_and_is_the_sdk_frd():
    before = torch.get_num_threads()
    real = tiny_image_set((6, 6), size=16).images
    fake = tiny_image_set((6, 6), size=16, seed=1).images
    try:
        torch.set_num_threads(1)
        value = radiomic_fd(real, fake)
        assert torch.get_num_threads() == 1  # a run asked for --threads 1 stays on one thread
        assert value == frechet_radiomics_distance(real, fake)
        assert np.isfinite(value) and value > 0
    finally:
        torch.set_num_threads(before)
