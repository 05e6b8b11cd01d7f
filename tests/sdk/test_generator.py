"""Generator: output against a numpy oracle, determinism, streaming, and every bad model or argument."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import pytest

from medsynth import Generator
from medsynth.errors import ArgumentError, ModelError, UnknownClassError
from medsynth.seeding import latents


def test_images_match_the_numpy_oracle(tiny_model, onnx_models):
    card = onnx_models.make_card()
    gen = Generator.load(tiny_model, device="cpu")
    images, labels = gen.generate(40, "melanoma", seed=5)
    assert images.dtype == np.uint8 and images.shape == (40, 8, 8, 3)
    assert labels.dtype == np.int64 and (labels == 1).all()
    weights = onnx_models.tiny_weights(card)
    expected = onnx_models.reference_images(card, weights, latents(5, 1, range(40), 16), labels)
    diff = np.abs(images.astype(int) - expected.astype(int))
    assert diff.max() <= 1  # float32 vs float64 may flip a rounding at .5
    assert (diff > 0).mean() < 0.01
    assert images.std() > 20  # not a constant image


def test_card_classes_and_identity(tiny_model):
    gen = Generator.load(tiny_model, device="cpu")
    assert gen.classes == ("nevus", "melanoma", "seborrheic_keratosis")
    assert gen.card.name == "tiny-test" and gen.device == "cpu" and gen.path == tiny_model
    assert gen.sha256 == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    assert "tiny-test" in repr(gen)


def test_class_by_name_equals_class_by_index(tiny_model):
    gen = Generator.load(tiny_model, device="cpu")
    by_name, _ = gen.generate(5, "seborrheic_keratosis", seed=1)
    by_index, labels = gen.generate(5, 2, seed=1)
    np.testing.assert_array_equal(by_name, by_index)
    assert (labels == 2).all()
    other_class, _ = gen.generate(5, 0, seed=1)
    other_seed, _ = gen.generate(5, 2, seed=2)
    assert not np.array_equal(by_name, other_class) and not np.array_equal(by_name, other_seed)


@pytest.fixture(scope="module")
def wide_model(model_factory, onnx_models):
    """Large enough (128-d latent, 32x32 output) that onnxruntime splits its GEMMs across threads."""
    return model_factory("wide", card=onnx_models.make_card(name="wide", latent_dim=128, image_size=32))


@pytest.mark.parametrize("which", ["tiny_model", "wide_model"])
def test_bit_exact_across_batch_sizes_threads_and_splits(request, which):
    path = request.getfixturevalue(which)
    reference, _ = Generator.load(path, device="cpu", threads=1).generate(37, "nevus", seed=9, batch_size=37)
    for threads in (1, 2):
        gen = Generator.load(path, device="cpu", threads=threads)
        for batch_size in (1, 4, 16, 64):
            images, _ = gen.generate(37, "nevus", seed=9, batch_size=batch_size)
            np.testing.assert_array_equal(images, reference, err_msg=f"threads={threads} batch={batch_size}")
        # Split across "workers": two halves with start=, and out-of-order indices.
        first, _ = gen.generate(20, "nevus", seed=9, batch_size=8)
        second, _ = gen.generate(17, "nevus", seed=9, batch_size=5, start=20)
        np.testing.assert_array_equal(np.concatenate([first, second]), reference)
        picked = gen.generate_indices("nevus", [36, 3, 20], seed=9)
        np.testing.assert_array_equal(picked, reference[[36, 3, 20]])


def test_stream_yields_bounded_batches_that_add_up(tiny_model):
    gen = Generator.load(tiny_model, device="cpu")
    batches = list(gen.stream(10, "melanoma", seed=3, batch_size=4))
    assert [len(b.images) for b in batches] == [4, 4, 2]
    assert np.concatenate([b.indices for b in batches]).tolist() == list(range(10))
    assert all((b.labels == 1).all() for b in batches)
    images, _ = gen.generate(10, "melanoma", seed=3)
    np.testing.assert_array_equal(np.concatenate([b.images for b in batches]), images)
    shifted = list(gen.stream(3, 1, seed=3, batch_size=2, start=7))
    with pytest.raises(ArgumentError):
        gen.stream(0, "melanoma")  # checked when called, not when first iterated
    with pytest.raises(UnknownClassError):
        gen.stream(1, "naevus")
    assert np.concatenate([b.indices for b in shifted]).tolist() == [7, 8, 9]


def test_grey_model_gives_one_channel(grey_model):
    gen = Generator.load(grey_model, device="cpu")
    images, labels = gen.generate(3, "pneumonia")
    assert images.shape == (3, 8, 8, 1) and labels.tolist() == [1, 1, 1]


def test_nan_output_is_refused(nan_model):
    gen = Generator.load(nan_model, device="cpu")
    with pytest.raises(ModelError, match="NaN") as info:
        gen.generate(2, 0)
    assert str(nan_model) in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ArgumentError, "n must be between 1 and"),
        ({"n": -3}, ArgumentError, "n must be"),
        ({"n": 2.0}, ArgumentError, "n must be"),
        ({"batch_size": 0}, ArgumentError, "batch_size"),
        ({"seed": -1}, ArgumentError, "seed"),
        ({"start": -1}, ArgumentError, "start"),
        ({"cls": "naevus"}, UnknownClassError, "0=nevus, 1=melanoma, 2=seborrheic_keratosis"),
        ({"cls": 3}, UnknownClassError, "no class index 3"),
    ],
)
def test_bad_arguments(tiny_model, kwargs, error, match):
    gen = Generator.load(tiny_model, device="cpu")
    args = {"n": 2, "cls": "nevus", **kwargs}
    with pytest.raises(error, match=match):
        gen.generate(**args)


def test_missing_truncated_and_non_onnx_models(tmp_path, tiny_model):
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(tiny_model.read_bytes()[:200])
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 not onnx at all")
    with pytest.raises(ModelError, match="does not exist"):
        Generator.load(tmp_path / "absent.onnx")
    for path in (truncated, junk):
        with pytest.raises(ModelError, match=str(path)):
            Generator.load(path)


def test_models_breaking_the_contract_are_refused(tmp_path, model_factory, onnx_models):
    card = onnx_models.make_card()
    cases = {
        "no 'medsynth' model card": model_factory("plain", stamp=False),
        "disagree": model_factory("wrong_latent", graph_latent_dim=12),
        "dimension 1 = 1": model_factory("wrong_channels", graph_channels=1),
        "no input named 'z'": model_factory("renamed", z_name="noise"),
    }
    model = onnx_models.build_model(card)
    doc = json.loads(card.to_json())
    doc["schema_version"] = 2
    for entry in model.metadata_props:
        if entry.key == "medsynth":
            entry.value = json.dumps(doc)
    future = tmp_path / "future.onnx"
    onnx.save(model, future)
    cases["schema_version 2"] = future
    for match, path in cases.items():
        with pytest.raises(ModelError, match=match):
            Generator.load(path, device="cpu")


def test_unknown_name_says_what_to_do():
    with pytest.raises(ModelError, match="no model file and no bundled model named 'no-such-model'"):
        Generator.load("no-such-model")
