"""ONNX models whose weights live in external data files: medsynth checks the paths itself and hashes them.

Models are built with onnx and saved with ``save_as_external_data=True``; onnx's own external-data helper is
the oracle for which tensors reference which file.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from medsynth import Generator
from medsynth._onnx_files import model_files
from medsynth.errors import ModelError

onnx = pytest.importorskip("onnx")


def save_external(model, folder, name="model.onnx", location="weights.bin"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    onnx.save(
        model,
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=1024,
    )
    return path


def relocate(path, location):
    """Point every external tensor of the saved model at ``location`` (bytes stay where they are)."""
    model = onnx.load(path, load_external_data=False)
    for tensor in onnx.external_data_helper._get_all_tensors(model):
        if onnx.external_data_helper.uses_external_data(tensor):
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
    onnx.save(model, path)


@pytest.fixture
def external_model(tmp_path, onnx_models):
    return save_external(onnx_models.build_model(onnx_models.make_card()), tmp_path / "m")


def test_references_match_onnx_helper(external_model):
    model = onnx.load(external_model, load_external_data=False)
    expected = [
        t.name
        for t in onnx.external_data_helper._get_all_tensors(model)
        if onnx.external_data_helper.uses_external_data(t)
    ]
    found = model_files(external_model)
    assert len(found.external) == len(expected) >= 2
    assert found.data_files == ((external_model.parent / "weights.bin").resolve(),)
    assert found.ir_version == 10


def test_external_model_generates_like_the_inline_one(tmp_path, external_model, tiny_model):
    inline = Generator.load(tiny_model, device="cpu")
    external = Generator.load(external_model, device="cpu")
    assert (external.generate(4, "melanoma", seed=3)[0] == inline.generate(4, "melanoma", seed=3)[0]).all()
    assert external.sha256 != hashlib.sha256(external_model.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "location",
    ["../secret.bin", "../../../../etc/passwd", "sub/../../secret.bin", "/etc/passwd", "..\\secret.bin"],
)
def test_location_outside_the_folder_is_refused_before_loading(tmp_path, external_model, location):
    (tmp_path / "secret.bin").write_bytes((external_model.parent / "weights.bin").read_bytes())
    relocate(external_model, location)
    with pytest.raises(ModelError, match="outside the model's folder"):
        Generator.load(external_model, device="cpu")


def test_symlink_leaving_the_folder_is_refused(tmp_path, external_model):
    weights = external_model.parent / "weights.bin"
    outside = tmp_path / "elsewhere.bin"
    os.replace(weights, outside)
    weights.symlink_to(outside)
    with pytest.raises(ModelError, match="outside the model's folder"):
        Generator.load(external_model, device="cpu")


def test_missing_and_truncated_weight_files(external_model):
    weights = external_model.parent / "weights.bin"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="shorter than the model says"):
        Generator.load(external_model, device="cpu")
    weights.unlink()
    with pytest.raises(ModelError, match="is missing"):
        Generator.load(external_model, device="cpu")


def test_identity_covers_the_weight_file(external_model):
    before = Generator.load(external_model, device="cpu").sha256
    weights = external_model.parent / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[0] ^= 0x01  # same size, one bit of one weight changed
    weights.write_bytes(bytes(data))
    after = Generator.load(external_model, device="cpu").sha256
    assert before != after


def test_resume_after_weights_changed_is_refused(tmp_path, external_model):
    from medsynth.errors import OutputError
    from medsynth.writers.run import write_run

    out = tmp_path / "out"
    write_run(Generator.load(external_model, device="cpu"), {"melanoma": 3}, out)
    weights = external_model.parent / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(OutputError, match="another model"):
        write_run(Generator.load(external_model, device="cpu"), {"melanoma": 6}, out)


def test_truncated_protobuf_is_a_model_error(tmp_path, tiny_model):
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(tiny_model.read_bytes()[:-7])
    with pytest.raises(ModelError):
        Generator.load(bad, device="cpu")


def test_cli_prints_one_line(tmp_path, external_model):
    from click.testing import CliRunner

    from medsynth.cli import main

    relocate(external_model, "../../../../etc/passwd")
    result = CliRunner().invoke(main, ["info", str(external_model)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
