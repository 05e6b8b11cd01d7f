"""Exporting every registered architecture: contract, card, parity, dynamic batch, loading in the SDK."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers.export import CLASSES, LATENT, SIZE, train, variant_id, variants
from onnx import TensorProto, numpy_helper
from safetensors.torch import load_file, save_file

from medsynth import Generator
from medsynth.export import FP16_TOLERANCE, FP32_TOLERANCE, export_checkpoint
from medsynth.export.onnx_export import TRAINING_ONLY_OPS
from medsynth.imageset import RESIZE_POLICY
from medsynth.model_card import ModelCard, read_card
from medsynth.seeding import latents
from medsynth.training.nets import arch_names
from medsynth.training.nets.dcgan import DCGANGenerator
from medsynth.training.nets.fastgan import FastGANGenerator
from medsynth.training.nets.layers import recompute_batchnorm_stats
from medsynth.training.nets.sngan import SNGANGenerator
from medsynth.training.nets.stylegan import StyleGANGenerator
from medsynth.training.nets.wgangp import WGANGPGenerator

VARIANTS = variants()


# The generator module class each architecture name means, written out here rather than read from
# medsynth.training.nets (its registry) or nets.factory (which export uses): a wrong class or a wrong argument
# in either then makes the rebuilt network differ from the exported one, and the tests below fail.
GENERATOR_CLASSES = {
    "dcgan": DCGANGenerator,
    "sngan": SNGANGenerator,
    "sngan-cnn": SNGANGenerator,
    "sngan-aa": SNGANGenerator,
    "projected": FastGANGenerator,
    "wgan-gp": WGANGPGenerator,
    "stylegan": StyleGANGenerator,
}


def test_every_architecture_has_an_independent_rebuild():
    assert sorted(GENERATOR_CLASSES) == arch_names()


def reference_generator(checkpoint, prefix="G_ema", *, standing_stats=True):
    """An independent torch rebuild of the checkpoint's generator: the checkpoint's JSON read by its keys, the
    module class constructed directly with keyword arguments, the safetensors loaded strictly (not through
    medsynth.export, the training checkpoint reader or the network factory)."""
    meta = json.loads(checkpoint.with_suffix(".json").read_text())
    config = meta["config"]
    options = {name: True for name in ("lstm", "bilinear") if config.get(name)}
    net = GENERATOR_CLASSES[config["arch"]](
        num_classes=len(meta["classes"]),
        latent_dim=config["latent_dim"],
        image_size=config["image_size"],
        channels=meta["channels"],
        width=config["g_width"],
        max_width=config["max_width"],
        **options,
    )
    tensors = load_file(str(checkpoint))
    state = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    net.load_state_dict(state, strict=True)
    if standing_stats:
        recompute_batchnorm_stats(net, len(meta["classes"]), config["latent_dim"], seed=config["seed"])
    return net.eval()


def weight_bytes(path):
    return sum(numpy_helper.to_array(t).nbytes for t in onnx.load(str(path)).graph.initializer)


def run_onnx(path, z, label):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["image"], {"z": z, "label": label})[0]


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_export_passes_parity_and_loads_in_the_sdk(exported, variant):
    run, report = exported(variant)
    assert [b for b, _ in report.parity.errors] == [1, 7, 64]
    assert 0 <= report.parity.max_error <= FP32_TOLERANCE
    assert report.path.is_file() and report.size_bytes == report.path.stat().st_size
    assert [p.name for p in report.path.parent.iterdir()] == [report.path.name]  # no temp file left
    gen = Generator.load(report.path, device="cpu", threads=1)
    assert gen.card.to_json() == report.card.to_json() == read_card(report.path).to_json()
    assert gen.sha256 == report.sha256
    images, labels = gen.generate(6, "melanoma", seed=3)
    assert images.shape == (6, SIZE, SIZE, 3) and images.dtype == np.uint8 and set(labels.tolist()) == {1}


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_sdk_images_match_an_independent_torch_rebuild(exported, variant):
    run, report = exported(variant)
    net = reference_generator(run.checkpoint)
    gen = Generator.load(report.path, device="cpu", threads=1)
    z = latents(11, 2, list(range(5)), LATENT)
    with torch.no_grad():
        want = net(torch.from_numpy(z), torch.full((5,), 2, dtype=torch.int64)).numpy()
    want_uint8 = np.clip(np.round((want.transpose(0, 2, 3, 1) + 1) * 127.5), 0, 255)
    got = gen.generate_indices("seborrheic_keratosis", range(5), seed=11).astype(np.int64)
    assert np.abs(got - want_uint8).max() <= 1  # rounding of values that sit on a .5 boundary


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_graph_is_pinned_and_has_no_training_ops(exported, variant):
    _, report = exported(variant)
    model = onnx.load(str(report.path))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == 10
    assert [(o.domain, o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")] == [("", 17)]
    assert not {n.op_type for n in model.graph.node} & TRAINING_ONLY_OPS
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            assert all(a.i == 0 for a in node.attribute if a.name == "training_mode")
            assert len([o for o in node.output if o]) == 1
    inputs = {v.name: v.type.tensor_type for v in model.graph.input}
    assert sorted(inputs) == ["label", "z"]
    assert inputs["z"].elem_type == TensorProto.FLOAT and inputs["label"].elem_type == TensorProto.INT64
    (out,) = model.graph.output
    assert out.name == "image" and out.type.tensor_type.elem_type == TensorProto.FLOAT
    dims = [v.type.tensor_type.shape.dim[0].dim_param for v in (*model.graph.input, out)]
    assert dims == ["batch", "batch", "batch"]


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_dynamic_batch(exported, variant):
    run, report = exported(variant)
    net = reference_generator(run.checkpoint)
    rng = np.random.default_rng(0)
    for n in (1, 7, 64):
        z = rng.standard_normal((n, LATENT)).astype(np.float32)
        label = (np.arange(n) % len(CLASSES)).astype(np.int64)
        got = run_onnx(report.path, z, label)
        assert got.shape == (n, 3, SIZE, SIZE)
        with torch.no_grad():
            want = net(torch.from_numpy(z), torch.from_numpy(label)).numpy()
        np.testing.assert_allclose(got, want, atol=FP32_TOLERANCE, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_card_from_checkpoint(exported, variant):
    run, report = exported(variant)
    card = report.card
    arch, _ = variant
    assert (card.arch, card.classes, card.latent_dim, card.image_size, card.channels) == (
        arch,
        CLASSES,
        LATENT,
        SIZE,
        3,
    )
    assert (card.photometric, card.modality, dict(card.intensity)) == ("RGB", "XC", {"kind": "display"})
    assert card.name == report.path.stem and card.license == "Apache-2.0"
    assert card.resize_policy == RESIZE_POLICY  # the trainer recorded it, the export carried it
    assert card.intended_use == "Synthetic research data; not for diagnosis."
    assert dict(card.metrics) == {"fd_pixels": 1.25}
    prov = card.to_dict()["provenance"]
    assert prov["dataset"] == "tiny test set" and prov["dataset_license"] == "CC0-1.0"
    assert prov["images_per_class"] == run.data.counts()
    assert prov["train_manifest_sha256"] == run.data.manifest_sha256()
    assert prov["seed"] == 5 and prov["iterations"] == 2 and prov["epochs"] > 0 and prov["wall_time_s"] > 0
    assert prov["export"]["weights"] == "G_ema" and prov["export"]["opset"] == 17
    # Every config value but the location of the data and path-like strings is carried over.
    assert "data" not in prov["config"] and "copied_from" not in prov["config"]["extra"]
    assert prov["config"]["extra"] == {"notes": "baseline"}
    expected = {k: v for k, v in run.config.to_dict().items() if k not in ("data", "extra")}
    assert {k: v for k, v in prov["config"].items() if k != "extra"} == expected
    text = card.to_json()
    assert "/private/site" not in text and "runs/old-run" not in text and str(run.run_dir) not in text


def test_export_uses_standing_batchnorm_statistics(trained, tmp_path):
    """Running statistics stored in the checkpoint are replaced by ones measured for the exported weights.

    (The trainer refreshes them before each sample grid, so a checkpoint written right after one already holds
    standing statistics; here they are made stale on purpose, as in a checkpoint between grids.)
    """
    run = trained(("sngan", {}))
    tensors = load_file(str(run.checkpoint))
    stats = [k for k in tensors if k.startswith("G_ema.") and k.endswith(("running_mean", "running_var"))]
    assert stats  # SNGAN has batch norms
    for key in stats:
        tensors[key] = tensors[key] * 3.0 + 0.5
    ckpt = tmp_path / run.checkpoint.name
    save_file(tensors, str(ckpt))
    shutil.copy(run.checkpoint.with_suffix(".json"), ckpt.with_suffix(".json"))
    report = export_checkpoint(ckpt, tmp_path / "m.onnx", parity_seed=4)
    stale = reference_generator(ckpt, standing_stats=False)
    fresh = reference_generator(ckpt)
    z = np.random.default_rng(1).standard_normal((8, LATENT)).astype(np.float32)
    label = (np.arange(8) % 3).astype(np.int64)
    got = run_onnx(report.path, z, label)
    with torch.no_grad():
        want = fresh(torch.from_numpy(z), torch.from_numpy(label)).numpy()
        wrong = stale(torch.from_numpy(z), torch.from_numpy(label)).numpy()
    assert np.abs(got - want).max() <= FP32_TOLERANCE
    assert np.abs(got - wrong).max() > 100 * FP32_TOLERANCE


def test_raw_weights_export_the_training_generator(trained, tmp_path):
    run = trained(("dcgan", {}))
    report = export_checkpoint(run.checkpoint, tmp_path / "raw.onnx", weights="raw", parity_seed=1)
    assert report.weights == "G" and report.card.provenance["export"]["weights"] == "G"
    z = np.random.default_rng(2).standard_normal((4, LATENT)).astype(np.float32)
    label = np.array([0, 1, 2, 0], dtype=np.int64)
    with torch.no_grad():
        inputs = torch.from_numpy(z), torch.from_numpy(label)
        want_raw = reference_generator(run.checkpoint, "G")(*inputs).numpy()
        want_ema = reference_generator(run.checkpoint)(*inputs).numpy()
    got = run_onnx(report.path, z, label)
    assert np.abs(got - want_raw).max() <= FP32_TOLERANCE < np.abs(got - want_ema).max()


def test_fp16_weights_halve_the_file_within_the_fp16_bound(exported, tmp_path):
    run, fp32 = exported(("sngan", {}))
    report = export_checkpoint(run.checkpoint, tmp_path / "half.onnx", fp16=True, parity_seed=2)
    assert report.parity.tolerance == FP16_TOLERANCE and report.parity.max_error <= FP16_TOLERANCE
    model = onnx.load(str(report.path))
    dtypes = {numpy_helper.to_array(t).dtype for t in model.graph.initializer if np.prod(t.dims) >= 16}
    assert dtypes == {np.dtype(np.float16)}
    half, full = weight_bytes(report.path), weight_bytes(fp32.path)
    assert full / 2 <= half < 0.52 * full and report.size_bytes < fp32.size_bytes
    assert report.card.provenance["export"]["weights_dtype"] == "float16"
    assert Generator.load(report.path, device="cpu").card.to_json() == report.card.to_json()
    # The error is the float16 rounding of the weights: larger than the fp32 export's, well inside the bound.
    assert report.parity.max_error > fp32.parity.max_error


def test_grayscale_checkpoint_gives_a_monochrome_card(tmp_path):
    run = train(tmp_path / "run", "dcgan", channels=1, window="")
    report = export_checkpoint(run.run_dir, tmp_path / "gray.onnx", parity_seed=3)
    card = report.card
    assert (card.channels, card.photometric, card.modality) == (1, "MONOCHROME2", "OT")
    images, _ = Generator.load(report.path, device="cpu").generate(3, 0, seed=0)
    assert images.shape == (3, SIZE, SIZE, 1)


def test_card_round_trips_through_json(exported):
    _, report = exported(("sngan", {}))
    again = ModelCard.from_json(report.card.to_json(), source="test")
    assert again == report.card and again.to_json() == report.card.to_json()
