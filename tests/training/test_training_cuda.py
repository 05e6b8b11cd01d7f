"""Training on a CUDA device (marked ``gpu``; skipped where torch sees none, as in CI): a run completes with
finite losses, its checkpoint holds CPU tensors that rebuild the same generator on the CPU, a resumed run
continues from it on the device, and ``export_checkpoint`` (which runs on the CPU) passes its parity check.

Run it on a GPU machine with ``python -m pytest -m gpu tests/training/test_training_cuda.py``.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers.training import tiny_config, tiny_image_set

from medsynth.training.checkpoint import load_checkpoint
from medsynth.training.config import TrainConfig
from medsynth.training.loop import Trainer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device visible to torch"),
]


def _quiet(_: str) -> None:
    pass


@pytest.mark.parametrize(
    "arch,changes",
    [
        ("sngan-cnn", {"spectral_weight": 0.5}),
        ("projected", {"class_weight": 0.5, "spectral_peak_weight": 0.5, "speck_weight": 0.1}),
    ],
)
def test_a_cuda_run_resumes_on_the_device_and_exports_on_the_cpu(arch, changes, tmp_path):
    from medsynth.export import export_checkpoint

    data = tiny_image_set((5, 7), size=32)

    def config(epochs: int, device: str = "cuda") -> TrainConfig:
        return tiny_config(arch, image_size=32, epochs=epochs, device=device, **changes)

    trainer = Trainer(config(1), data, tmp_path / "run", log=_quiet)
    assert next(trainer.G.parameters()).device.type == "cuda"
    result = trainer.fit()
    assert result.iterations == 3
    assert all(math.isfinite(v) for h in trainer.history for v in h.values() if isinstance(v, float))

    # the checkpoint holds what the device trained: the same generator on the CPU (TF32 off, so that the
    # device computes in float32 as the CPU does)
    z = torch.randn(6, trainer.config.latent_dim, generator=torch.Generator().manual_seed(1))
    y = torch.arange(6) % 2
    matmul = torch.backends.cuda.matmul
    tf32 = matmul.allow_tf32
    matmul.allow_tf32 = False
    try:
        with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            on_device = trainer.sampler_net.eval()(z.cuda(), y.cuda()).cpu()
    finally:
        matmul.allow_tf32 = tf32
    cpu = Trainer(config(1, device="cpu"), data, tmp_path / "cpu", log=_quiet)
    assert cpu.resume(load_checkpoint(result.checkpoint))
    with torch.no_grad():
        on_cpu = cpu.sampler_net.eval()(z, y)
    torch.testing.assert_close(on_cpu, on_device, rtol=1e-4, atol=1e-4)

    resumed = Trainer(config(2), data, tmp_path / "run", log=_quiet)
    assert resumed.resume() and resumed.iteration == 3
    assert resumed.fit().iterations == 6

    report = export_checkpoint(tmp_path / "run", tmp_path / "m.onnx", parity_seed=0)
    assert report.parity.max_error <= report.parity.tolerance
