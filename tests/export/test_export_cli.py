"""``medsynth export`` via click's CliRunner: a good export; bad input: one line, exit 2, nothing written."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from medsynth.cli import main
from medsynth.errors import ModelError
from medsynth.export import export_checkpoint
from medsynth.model_card import read_card


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, match, *, progress_lines=0):
    """Exit 2 and one "Error:" line, after ``progress_lines`` lines of progress (steps already begun)."""
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == progress_lines + 1 and lines[-1].startswith("Error: "), result.stderr
    assert not any(line.startswith("Error") for line in lines[:-1]), result.stderr
    assert match in lines[-1], lines[-1]


def assert_nothing_written(folder, out):
    assert not out.exists()
    assert not folder.exists() or list(folder.iterdir()) == []


def test_cli_exports_a_run_folder_with_name_metrics_and_description(trained, tmp_path):
    run_ = trained(("sngan", {}))
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"fd_inception": {"overall": 41.5}, "copy_rate": 0.0}))
    out = tmp_path / "models" / "isic-tiny.onnx"
    result = run(
        "export",
        run_.run_dir,
        "--out",
        out,
        "--name",
        "isic-tiny",
        "--metrics",
        metrics,
        "--modality",
        "xc",
        "--description",
        "tiny test export",
        "--license",
        "CC-BY-4.0",
        "--seed",
        9,
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("parity")] == [
        "parity batch   1",
        "parity batch   7",
        "parity batch  64",
    ]
    assert lines[-1].startswith(f"wrote {out}: isic-tiny, sngan 16x16 RGB")
    card = read_card(out)
    assert (card.name, card.description, card.modality, card.license) == (
        "isic-tiny",
        "tiny test export",
        "XC",
        "CC-BY-4.0",
    )
    assert card.to_dict()["metrics"] == {"fd_inception": {"overall": 41.5}, "copy_rate": 0.0}
    info = run("info", out)
    assert info.exit_code == 0 and "isic-tiny" in info.stdout


def test_cli_window_option_sets_the_intensity(trained, tmp_path):
    run_ = trained(("dcgan", {}))
    out = tmp_path / "ct.onnx"
    result = run("export", run_.checkpoint, "--out", out, "--modality", "CT", "--window", "lung")
    assert result.exit_code == 0, result.output
    card = read_card(out)
    assert card.modality == "CT"
    assert dict(card.intensity) == {"kind": "window", "center": -600.0, "width": 1500.0, "units": "HU"}


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "no-json",
        "foreign-json",
        "corrupted",
        "truncated",
        "empty-run",
        "wrong-suffix",
        "bad-metrics",
        "out-is-folder",
        "bad-window",
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(trained, tmp_path, case):
    run_ = trained(("dcgan", {}))
    src = tmp_path / "ckpt"
    src.mkdir()
    ckpt = src / run_.checkpoint.name
    shutil.copy(run_.checkpoint, ckpt)
    shutil.copy(run_.checkpoint.with_suffix(".json"), ckpt.with_suffix(".json"))
    folder = tmp_path / "out"
    out = folder / "model.onnx"
    extra: list[str] = []
    if case == "missing":
        target, match = src / "nope.safetensors", "does not exist"
    elif case == "no-json":
        ckpt.with_suffix(".json").unlink()
        target, match = ckpt, "has no ckpt-00000002.json beside it"
    elif case == "foreign-json":
        ckpt.with_suffix(".json").write_text(json.dumps({"format": "someone-else", "weights": [1, 2]}))
        target, match = ckpt, "is not a medsynth checkpoint description"
    elif case == "corrupted":
        ckpt.write_bytes(b"\x00garbage" * 64)
        target, match = ckpt, f"cannot read {ckpt}"
    elif case == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
        target, match = ckpt, f"cannot read {ckpt}"
    elif case == "empty-run":
        (tmp_path / "empty-run").mkdir()
        target, match = tmp_path / "empty-run", "holds no checkpoint"
    elif case == "wrong-suffix":
        other = src / "weights.pt"
        other.write_bytes(b"x")
        target, match = other, "is not a .safetensors checkpoint"
    elif case == "bad-metrics":
        (tmp_path / "m.json").write_text("[1, 2]")
        target, match, extra = ckpt, "must hold a JSON object", ["--metrics", tmp_path / "m.json"]
    elif case == "out-is-folder":
        folder.mkdir()
        (folder / "model.onnx").mkdir()
        target, match = ckpt, "is a folder"
    else:
        target, match, extra = ckpt, "unknown window", ["--window", "not-a-window"]
    result = run("export", target, "--out", out, *extra)
    assert_one_line_error(result, match)
    if case == "out-is-folder":
        assert list(folder.iterdir()) == [out] and list(out.iterdir()) == []
    else:
        assert_nothing_written(folder, out)


def test_checkpoint_that_does_not_fit_its_config_is_refused(trained, tmp_path):
    run_ = trained(("dcgan", {}))
    ckpt = tmp_path / run_.checkpoint.name
    shutil.copy(run_.checkpoint, ckpt)
    meta = json.loads(run_.checkpoint.with_suffix(".json").read_text())
    meta["config"]["g_width"] = 16  # the tensors were trained with 8
    ckpt.with_suffix(".json").write_text(json.dumps(meta))
    out = tmp_path / "out" / "m.onnx"
    result = run("export", ckpt, "--out", out)
    assert_one_line_error(result, "do not fit the 'dcgan' generator", progress_lines=1)
    assert_nothing_written(out.parent, out)


def test_failed_parity_leaves_no_file_and_keeps_the_old_one(trained, tmp_path, monkeypatch):
    run_ = trained(("dcgan", {}))
    out = tmp_path / "model.onnx"
    out.write_bytes(b"the previous model")
    monkeypatch.setattr("medsynth.export.exporter.FP32_TOLERANCE", -1.0)  # every error is above it
    with pytest.raises(ModelError, match="parity check failed: .*batch 1: .*the ONNX file was not written"):
        export_checkpoint(run_.checkpoint, out, parity_seed=0)
    assert out.read_bytes() == b"the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_export_without_torch_names_the_extra(monkeypatch):
    """With torch missing, ``medsynth export`` says which extra to install (the lazy CLI's contract)."""
    import sys

    for name in [m for m in sys.modules if m == "medsynth.export" or m.startswith("medsynth.export.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ModuleNotFoundError
    result = run("export", "x.safetensors", "--out", "y.onnx")
    assert result.exit_code == 2
    assert 'pip install "medsynth[train]"' in result.stderr
