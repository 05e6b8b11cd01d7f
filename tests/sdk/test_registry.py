"""The bundled-model registry: data, duplicates refused, loading by name, damaged installs."""

from __future__ import annotations

import hashlib
import shutil

import pytest

import medsynth.generator
from medsynth import Generator
from medsynth.errors import ModelError
from medsynth.registry import BUNDLED, DEFAULT_MODEL, REGISTRY, BundledModel, Registry, models_dir

SHA = "0" * 64


def test_default_registry_matches_the_installed_files():
    assert DEFAULT_MODEL == "isic2017-64"
    assert len(REGISTRY) == len(BUNDLED)
    for entry in REGISTRY:
        path = REGISTRY.path(entry)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
    shipped = sorted(p.name for p in models_dir().glob("*.onnx"))
    assert shipped == sorted(entry.file_name for entry in BUNDLED), "every shipped .onnx must be registered"


def test_duplicates_are_refused():
    entry = BundledModel("m", "m.onnx", "one", SHA)
    with pytest.raises(ValueError, match="registered twice"):
        Registry([entry, BundledModel("m", "other.onnx", "two", SHA)])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "a/b"},
        {"name": "m.onnx"},
        {"file_name": "m.pt"},
        {"sha256": "abc"},
        {"sha256": "G" * 64},
    ],
)
def test_bad_entries_are_refused(kwargs):
    with pytest.raises(ValueError):
        BundledModel(**{"name": "m", "file_name": "m.onnx", "description": "d", "sha256": SHA, **kwargs})


def test_empty_registry_says_no_bundled_model_is_installed(tmp_path):
    empty = Registry([], folder=tmp_path)
    with pytest.raises(ModelError, match="no bundled model is installed yet.*path of a medsynth ONNX"):
        empty.get(DEFAULT_MODEL)


def test_load_by_name_checks_the_file_and_its_sha256(tmp_path, tiny_model, monkeypatch):
    shutil.copy(tiny_model, tmp_path / "tiny.onnx")
    sha = hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    good = Registry([BundledModel("tiny", "tiny.onnx", "test model", sha)], folder=tmp_path)
    monkeypatch.setattr(medsynth.generator, "REGISTRY", good)
    gen = Generator.load("tiny", device="cpu")
    assert gen.sha256 == sha and gen.path == tmp_path / "tiny.onnx"
    with pytest.raises(ModelError, match=r"no bundled model named 'other' \(bundled models: tiny\)"):
        Generator.load("other")

    damaged = Registry([BundledModel("tiny", "tiny.onnx", "test model", "f" * 64)], folder=tmp_path)
    monkeypatch.setattr(medsynth.generator, "REGISTRY", damaged)
    with pytest.raises(ModelError, match="damaged, reinstall"):
        Generator.load("tiny", device="cpu")

    missing = Registry([BundledModel("tiny", "gone.onnx", "test model", sha)], folder=tmp_path)
    monkeypatch.setattr(medsynth.generator, "REGISTRY", missing)
    with pytest.raises(ModelError, match="file .* is missing; reinstall"):
        Generator.load("tiny", device="cpu")
