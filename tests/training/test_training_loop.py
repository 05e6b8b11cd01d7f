"""The training loop: a run split by a resume ends bit-for-bit where an uninterrupted one does, what a run
writes, early stopping, and the configs a resume refuses."""

from __future__ import annotations

import json

import pytest
import torch
from helpers.training import tiny_config, tiny_image_set
from PIL import Image

import medsynth.training.loop as loop
from medsynth.errors import ArgumentError, DataError, DivergenceError
from medsynth.training.checkpoint import list_checkpoints
from medsynth.training.loop import Trainer


def _quiet(_: str) -> None:
    pass


def _state(trainer: Trainer) -> dict[str, torch.Tensor]:
    nets = {"G": trainer.G, "D": trainer.D, "G_ema": trainer.ema.shadow}
    out = {f"{n}.{k}": v for n, net in nets.items() for k, v in net.state_dict().items()}
    for name, opt in (("opt_g", trainer.opt_g), ("opt_d", trainer.opt_d)):
        for idx, per in opt.state_dict()["state"].items():
            out.update({f"{name}.{idx}.{k}": torch.as_tensor(v) for k, v in per.items()})
    out["rng"] = trainer.rng.get_state()
    return out


@pytest.mark.parametrize(
    "arch,changes",
    [
        ("dcgan", {}),
        ("sngan", {"r1_gamma": 0.5}),  # lazy R1: its interval must survive the resume too
        ("wgan-gp", {"lstm": True, "n_critic": 2}),
        ("stylegan", {"r1_gamma": 0.1, "style_mixing": 0.5}),
        ("projected", {"spectral_weight": 0.5}),
        ("projected", {"spectral_peak_weight": 0.5, "speck_weight": 0.1}),
        ("projected", {"class_weight": 1.0}),  # the class probe is refitted on resume, to the same weights
        ("projected", {"class_mmd_weight": 5.0}),  # so is the real side of the per-class MMD
        ("projected", {"pixel_head": True, "class_weight": 1.0}),  # the probe skips the image the head reads
    ],
)
def test_resume_equals_an_uninterrupted_run_bit_for_bit(arch, changes, tmp_path):
    data = tiny_image_set((5, 7))  # 12 images, batch 4: 3 iterations per epoch
    straight = Trainer(tiny_config(arch, epochs=2, **changes), data, tmp_path / "a", log=_quiet)
    straight.fit()
    first = Trainer(tiny_config(arch, epochs=1, **changes), data, tmp_path / "b", log=_quiet)
    first.fit()
    second = Trainer(tiny_config(arch, epochs=2, **changes), data, tmp_path / "b", log=_quiet)
    assert second.resume() and second.iteration == 3
    result = second.fit()
    assert result.iterations == straight.iteration == 6
    a, b = _state(straight), _state(second)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert straight.np_rng.bit_generator.state == second.np_rng.bit_generator.state
    strip = [{k: v for k, v in h.items() if k != "wall_time_s"} for h in straight.history]
    assert strip == [{k: v for k, v in h.items() if k != "wall_time_s"} for h in second.history]


def test_a_run_writes_checkpoints_samples_curves_and_gif(tmp_path):
    data = tiny_image_set((4, 4, 4), channels=1)
    config = tiny_config("dcgan", epochs=3, keep_checkpoints=2, samples_per_class=3)
    result = Trainer(config, data, tmp_path, log=_quiet).fit()
    assert result.iterations == 9 and result.stopped_because == "finished"
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == [
        "ckpt-00000006.safetensors",
        "ckpt-00000009.safetensors",
    ]
    meta = json.loads(result.checkpoint.with_suffix(".json").read_text())
    assert meta["classes"] == ["class0", "class1", "class2"] and meta["channels"] == 1
    assert meta["images_per_class"] == {"class0": 4, "class1": 4, "class2": 4}
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3]
    assert all(h["val_metric"] >= 0 for h in meta["history"])
    grids = sorted((tmp_path / "samples").glob("*.png"))
    assert [g.name for g in grids] == ["epoch-0001.png", "epoch-0002.png", "epoch-0003.png"]
    with Image.open(grids[-1]) as grid:  # 3 rows (classes) of 3 images of 16 px, 2 px padding
        assert grid.size == (3 * 18 + 2, 3 * 18 + 2) and grid.mode == "L"
    with Image.open(tmp_path / "progress.gif") as gif:
        assert gif.n_frames == 3
    with Image.open(tmp_path / "curves.png") as curves:
        assert curves.size[0] > 500


def test_early_stopping_on_a_plateau_of_the_validation_metric(tmp_path, monkeypatch):
    scores = iter([5.0, 4.0, 4.5, 4.2, 4.1, 3.0])
    monkeypatch.setattr(loop, "frechet", lambda a, b: next(scores))
    config = tiny_config("dcgan", epochs=6, early_stop_patience=2)
    result = Trainer(config, tiny_image_set((4, 4)), tmp_path, log=_quiet).fit()
    assert result.stopped_because.startswith("no improvement of the validation metric for 2 epochs")
    assert result.iterations == 4 * 2  # best at epoch 2, stopped at epoch 4


def test_max_iterations_and_the_time_limit_stop_with_a_checkpoint(tmp_path):
    data = tiny_image_set((4, 4))
    result = Trainer(tiny_config("dcgan", epochs=5, max_iterations=3), data, tmp_path / "a", log=_quiet).fit()
    assert result.iterations == 3 and result.checkpoint.name == "ckpt-00000003.safetensors"
    timed = Trainer(tiny_config("dcgan", epochs=5, max_minutes=1e-6), data, tmp_path / "b", log=_quiet).fit()
    assert timed.iterations == 1 and timed.stopped_because.startswith("time limit")
    assert timed.checkpoint.is_file()


def test_resume_refuses_a_different_config_and_images_of_another_size(tmp_path):
    data = tiny_image_set((4, 4))
    Trainer(tiny_config("dcgan"), data, tmp_path, log=_quiet).fit()
    other = Trainer(tiny_config("dcgan", lr_g=1e-3), data, tmp_path, log=_quiet)
    with pytest.raises(ArgumentError, match=r"config differs in \['lr_g'\]"):
        other.resume()
    with pytest.raises(DataError, match="data images are 16 px but the config asks for 32"):
        Trainer(tiny_config("dcgan", image_size=32), data, tmp_path, log=_quiet)


def test_non_finite_losses_stop_the_run_with_advice(tmp_path):
    data = tiny_image_set((4, 4))
    trainer = Trainer(tiny_config("dcgan"), data, tmp_path, log=_quiet)
    with torch.no_grad():
        for p in trainer.D.parameters():
            p.fill_(float("nan"))
    with pytest.raises(DivergenceError, match="non-finite loss at iteration 0"):
        trainer.fit()
