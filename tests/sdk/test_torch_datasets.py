"""medsynth.torch: map-style datasets over a tiny ONNX generator, in DataLoader worker processes too."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from medsynth import Generator, plan_balance  # noqa: E402
from medsynth.errors import ArgumentError, UnknownClassError  # noqa: E402
from medsynth.torch import SyntheticDataset, balance_dataset  # noqa: E402

COUNTS = {"seborrheic_keratosis": 5, "nevus": 3}  # not in class-index order on purpose


@pytest.fixture(scope="module")
def gen(tiny_model):
    return Generator.load(tiny_model, device="cpu")


class RealImages(torch.utils.data.Dataset):
    """A stand-in for ImageFolder: black uint8 (C, H, W) tensors and int labels."""

    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, k):
        return torch.zeros(3, 8, 8, dtype=torch.uint8), self.labels[k]


def to_unit_float(image):
    """A transform that pickles (a module-level function), for spawned workers."""
    return image.float() / 255.0


def expected_items(gen, counts, seed):
    """The oracle: Generator.generate per class, in the order of counts, as (C, H, W) arrays and labels."""
    images, labels = [], []
    for name, n in counts.items():
        made, lab = gen.generate(n, name, seed=seed)
        images.extend(made.transpose(0, 3, 1, 2))
        labels.extend(lab.tolist())
    return np.stack(images), labels


def test_items_are_generate_s_pixels_and_the_model_s_labels(gen, onnx_models):
    data = SyntheticDataset(gen, COUNTS, seed=7, batch_size=2)
    images, labels = expected_items(gen, COUNTS, seed=7)
    assert len(data) == 8 and data.class_to_idx == {"seborrheic_keratosis": 2, "nevus": 0}
    assert data.targets == labels == [2] * 5 + [0] * 3
    for k in range(len(data)):
        image, label = data[k]
        assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 8, 8)
        np.testing.assert_array_equal(image.numpy(), images[k])
        assert label == labels[k]
    np.testing.assert_array_equal(data[-1][0].numpy(), images[-1])
    # Independent oracle: the tiny network in numpy, from the latents of (seed, class, index).
    from medsynth.seeding import latents

    card = onnx_models.make_card()
    z = latents(7, 2, [4], card.latent_dim)
    ref = onnx_models.reference_images(card, onnx_models.tiny_weights(card), z, np.array([2]))
    np.testing.assert_array_equal(data[4][0].numpy(), ref[0].transpose(2, 0, 1))
    with pytest.raises(IndexError):
        data[8]


def test_generation_is_batched(gen, monkeypatch):
    calls = []
    original = Generator.generate_indices

    def counting(self, cls, indices, seed=0):
        indices = list(indices)
        calls.append((cls, indices))
        return original(self, cls, indices, seed)

    monkeypatch.setattr(Generator, "generate_indices", counting)
    data = SyntheticDataset(gen, {"melanoma": 10}, batch_size=4)
    for k in range(10):
        data[k]
    assert [indices for _, indices in calls] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    calls.clear()
    shuffled = DataLoader(data, batch_size=6, shuffle=True, generator=torch.Generator().manual_seed(0))
    batch = next(iter(shuffled))
    # One DataLoader batch of 6: one call per batch_size images of the class, not one per image.
    assert [len(indices) for _, indices in calls] == [4, 2] and tuple(batch[0].shape) == (6, 3, 8, 8)


def test_pickles_without_the_session_and_gives_the_same_items(gen):
    data = SyntheticDataset(gen, COUNTS, seed=3)
    first = data[6][0].numpy()
    blob = pickle.dumps(data)
    assert b"InferenceSession" not in blob and len(blob) < 10_000
    copy = pickle.loads(blob)
    np.testing.assert_array_equal(copy[6][0].numpy(), first)
    assert copy.targets == data.targets


@pytest.mark.parametrize("context", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_dataloader_with_two_workers(gen, context):
    if context not in torch.multiprocessing.get_all_start_methods():
        pytest.skip(f"start method {context} is not available here")
    data = SyntheticDataset(gen, COUNTS, seed=11, transform=to_unit_float)
    data[0]  # the parent's session exists before the fork
    loader = DataLoader(data, batch_size=3, num_workers=2, multiprocessing_context=context)
    batches = list(loader)
    images = torch.cat([x for x, _ in batches]).numpy()
    labels = torch.cat([y for _, y in batches]).tolist()
    want, want_labels = expected_items(gen, COUNTS, seed=11)
    np.testing.assert_array_equal(np.rint(images * 255.0).astype(np.uint8), want)
    assert labels == want_labels


def test_bad_counts(gen):
    with pytest.raises(UnknownClassError, match="naevus"):
        SyntheticDataset(gen, {"naevus": 2})
    with pytest.raises(ArgumentError, match="non-negative integer"):
        SyntheticDataset(gen, {"nevus": -1})
    with pytest.raises(ArgumentError, match="appears twice"):
        SyntheticDataset(gen, {"nevus": 1, 0: 2})
    assert len(SyntheticDataset(gen, {"nevus": 0})) == 0


def test_balance_dataset_tops_up_to_plan_balance(gen):
    real_labels = ["nevus"] * 6 + [1] * 2 + ["seborrheic_keratosis"] * 1  # names and indices mixed
    real = RealImages([gen.card.class_index(c) for c in real_labels])
    mixed = balance_dataset(real, real_labels, gen, seed=5)
    need = plan_balance({"nevus": 6, "melanoma": 2, "seborrheic_keratosis": 1})
    assert need == {"nevus": 0, "melanoma": 4, "seborrheic_keratosis": 5}
    assert len(mixed) == 9 + 9
    labels = [int(mixed[k][1]) for k in range(len(mixed))]
    assert np.bincount(labels, minlength=3).tolist() == [6, 6, 6]
    synth, _ = gen.generate(4, "melanoma", seed=5)
    np.testing.assert_array_equal(mixed[9][0].numpy(), synth[0].transpose(2, 0, 1))
    # A shuffled DataLoader over both parts: every item once, synthetic ones batched.
    seen = torch.cat([y for _, y in DataLoader(mixed, batch_size=4, shuffle=True)]).tolist()
    assert sorted(seen) == sorted(labels)
    assert len(balance_dataset(real, real_labels, gen, target=3)) == 9 + 1 + 2


def test_balance_dataset_refuses_unknown_classes_and_wrong_lengths(gen):
    real = TensorDataset(torch.zeros(3, 1))
    match = "know: 7, basal_cell_carcinoma; the model's classes are 0=nevus"
    with pytest.raises(UnknownClassError, match=match):
        balance_dataset(real, ["nevus", "basal_cell_carcinoma", 7], gen)
    with pytest.raises(ArgumentError, match="labels has 2 entries but the real dataset has 3"):
        balance_dataset(real, ["nevus", "melanoma"], gen)


def test_import_medsynth_does_not_import_torch():
    probe = "import medsynth, medsynth.cli, sys; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
