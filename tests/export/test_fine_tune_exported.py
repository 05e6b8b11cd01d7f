"""A training run started from an exported model (``--init-from MODEL.onnx``): its generator computes what
the ONNX file computes (onnxruntime is the oracle), it trains on, and networks or classes that differ are
refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnxruntime as ort
import pytest
import torch
from helpers.export import CLASSES, LATENT, variant_id, variants

from medsynth.errors import ArgumentError, DataError, ModelError
from medsynth.export import FP32_TOLERANCE
from medsynth.imageset import ImageSet
from medsynth.seeding import latents
from medsynth.training.loop import Trainer

PROJECTED = [v for v in variants() if v[0] == "projected"]  # the exports whose folded form is read back
OTHERS = [v for v in variants() if v[0] != "projected"]


def onnx_images(path, z, label):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["image"], {"z": z, "label": label})[0]


@pytest.mark.parametrize("variant", PROJECTED, ids=variant_id)
def test_a_run_started_from_an_export_computes_its_images_and_trains_on(exported, variant, tmp_path):
    run, report = exported(variant)
    config = dataclasses.replace(run.config, init_from=str(report.path), seed=9)
    trainer = Trainer(config, run.data, tmp_path / "tuned", log=lambda _: None)
    assert trainer.iteration == 0  # only the generator comes from the file: a new run
    z = latents(11, 2, list(range(5)), LATENT)
    label = np.full(5, 2, dtype=np.int64)
    for net in (trainer.sampler_net, trainer.G):
        net.eval()
        with torch.no_grad():
            got = net(torch.from_numpy(z), torch.from_numpy(label)).numpy()
        assert np.abs(got - onnx_images(report.path, z, label)).max() <= FP32_TOLERANCE
    trainer.G.train()
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    stats = trainer._step()
    assert all(np.isfinite(v) for v in stats.values())
    assert any(not torch.equal(before[k], v) for k, v in trainer.G.state_dict().items())


def test_other_networks_or_classes_are_refused(exported, tmp_path):
    run, report = exported(("projected", {}))
    wider = dataclasses.replace(run.config, init_from=str(report.path), g_width=16)
    with pytest.raises(ArgumentError, match=r"networks differ in \['g_width'\]"):
        Trainer(wider, run.data, tmp_path / "a", log=lambda _: None)
    renamed = dataclasses.replace(run.data, classes=("nevus", "melanoma", "other"))
    assert isinstance(renamed, ImageSet) and renamed.classes != CLASSES
    with pytest.raises(DataError, match="trained on classes"):
        Trainer(
            dataclasses.replace(run.config, init_from=str(report.path)),
            renamed,
            tmp_path / "b",
            log=lambda _: None,
        )


@pytest.mark.parametrize("variant", OTHERS, ids=variant_id)
def test_exports_of_other_architectures_are_refused_with_the_way_out(exported, variant, tmp_path):
    run, report = exported(variant)
    config = dataclasses.replace(run.config, init_from=str(report.path))
    with pytest.raises(ModelError, match=r"does not hold the generator tensors .*--init-from RUN"):
        Trainer(config, run.data, tmp_path / "tuned", log=lambda _: None)
