"""``medsynth train`` through click's CliRunner: a run and what it prints, flags over YAML over presets,
resume, one-line errors with exit code 2, and the message without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from helpers.training import TINY_FLAGS, class_tree

from medsynth.cli import main
from medsynth.training.cli import resolve_config
from medsynth.training.config import TrainConfig
from medsynth.training.nets import arch_names


def _run(*args):
    return CliRunner().invoke(main, ["train", *[str(a) for a in args]])


def _one_line_error(result, pattern):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert pattern in lines[0], lines[0]


def test_train_runs_prints_where_everything_went_and_resumes(tmp_path):
    class_tree(tmp_path / "data", {"a": 4, "b": 4})
    out = tmp_path / "run"
    result = _run("--data", tmp_path / "data", "--arch", "dcgan", "--epochs", "1", "--out", out, *TINY_FLAGS)
    assert result.exit_code == 0, result.stderr
    assert "data: class folders (data): 8 images (a 4, b 4)" in result.stderr
    assert "training" in result.stderr and "2/2" in result.stderr  # the progress bar
    ckpt = out / "checkpoints" / "ckpt-00000002.safetensors"
    lines = result.stdout.splitlines()
    assert lines[0].startswith("trained 2 iterations (1.00 epochs)")
    assert f"checkpoint   {ckpt} (with ckpt-00000002.json beside it)" in lines
    assert any(line.startswith(f"samples      {out / 'samples'}/ (1 grids") for line in lines)
    assert f"curves       {out / 'curves.png'} (D(x), D(G(z)) and losses per epoch)" in lines
    assert f"progress     {out / 'progress.gif'} (the sample grids in order)" in lines
    assert ckpt.with_suffix(".json").is_file() and (out / "progress.gif").is_file()

    again = _run("--out", out, "--epochs", "2")  # the checkpoint's config is the base
    assert again.exit_code == 0, again.stderr
    assert "resumed from" in again.stderr and again.stdout.startswith("trained 4 iterations (2.00 epochs)")
    refused = _run("--out", out, "--epochs", "3", "--lr-g", "0.001")
    _one_line_error(refused, "its config differs in ['lr_g']")
    fresh = _run("--out", out, "--no-resume", "--data", tmp_path / "data")
    _one_line_error(fresh, "holds checkpoints of an earlier run")


def test_flags_override_yaml_which_overrides_the_architecture_presets(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(
        textwrap.dedent("""\
        arch: wgan-gp
        lr_g: 0.0003
        batch_size: 8
        lstm: true
        extra: {note: from yaml}
    """)
    )
    flags = {f: None for f in TrainConfig.__dataclass_fields__}
    resolved = resolve_config({**flags, "batch_size": 16, "extra": ("run=a",)}, config, None)
    assert resolved.batch_size == 16 and resolved.lr_g == 3e-4 and resolved.lstm
    assert resolved.n_critic == 5 and resolved.beta2 == 0.9  # wgan-gp's presets (Gulrajani et al.)
    assert resolved.extra == {"run": "a"}
    plain = resolve_config({**flags, "arch": "dcgan"}, None, None)
    assert plain == TrainConfig(arch="dcgan")
    resumed = resolve_config({**flags, "epochs": 9}, None, TrainConfig(arch="stylegan", lr_g=0.01).to_dict())
    assert resumed.lr_g == 0.01 and resumed.epochs == 9 and resumed.r1_gamma == 0.0  # no presets over it


def test_every_config_field_is_a_flag():
    result = CliRunner().invoke(main, ["train", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for name in TrainConfig.__dataclass_fields__:
        assert f"--{name.replace('_', '-')} " in text, name
    assert "--balanced / --no-balanced" in text and "--resume / --no-resume" in text
    # the field's comment is the help
    unwrapped = text.replace("- ", "-")  # click wraps lines after hyphens (sngan-aa)
    assert " | ".join(arch_names()) in unwrapped and "stylegan" in arch_names()


@pytest.mark.parametrize(
    "case,pattern",
    [
        ("missing data", "does not exist"),
        ("unknown arch", "unknown architecture 'gan9000'"),
        ("bad yaml key", "unknown config keys ['learning_rate']"),
        ("bad yaml type", "image_size must be int, got 'big'"),
        ("bad yaml", "cannot read config"),
        ("no data", "no data set: pass --data PATH"),
        ("single image class", "class 'b' has a single image"),
        ("empty class", "class 'b' has no images"),
        ("bad policy", "unknown DiffAugment policy 'zoom'"),
        ("bad extra", "--extra takes KEY=VALUE"),
        ("bad size", "image_size must be a power of two"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(case, pattern, tmp_path):
    class_tree(tmp_path / "ok", {"a": 2, "b": 2})
    yaml = tmp_path / "c.yaml"
    args: list = ["--out", tmp_path / "run", "--data", tmp_path / "ok", *TINY_FLAGS]
    if case == "missing data":
        args[3] = tmp_path / "missing"
    elif case == "unknown arch":
        args += ["--arch", "gan9000"]
    elif case == "bad yaml key":
        yaml.write_text("learning_rate: 0.1\n")
        args += ["--config", yaml]
    elif case == "bad yaml type":
        yaml.write_text("image_size: big\n")
        args = ["--out", tmp_path / "run", "--config", yaml]
    elif case == "bad yaml":
        yaml.write_text("arch: [unclosed\n")
        args += ["--config", yaml]
    elif case == "no data":
        args = ["--out", tmp_path / "run"]
    elif case == "single image class":
        class_tree(tmp_path / "one", {"a": 2, "b": 1})
        args[3] = tmp_path / "one"
    elif case == "empty class":
        class_tree(tmp_path / "none", {"a": 2, "b": 0})
        args[3] = tmp_path / "none"
    elif case == "bad policy":
        args += ["--diffaugment", "color,zoom"]
    elif case == "bad extra":
        args += ["--extra", "novalue"]
    elif case == "bad size":
        args += ["--image-size", "48"]
    result = _run(*args)
    _one_line_error(result, pattern)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_without_torch_train_names_the_extra_and_exits_2():
    shim = (
        "import sys; sys.modules['torch'] = None\n"
        "from medsynth.cli import main\n"
        "main(['train', '--data', 'x', '--out', 'y'])\n"
    )
    done = subprocess.run([sys.executable, "-c", shim], capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: 'medsynth train' needs torch, which is not installed: pip install \"medsynth[train]\""
    ]
    listing = subprocess.run(
        [sys.executable, "-c", shim.replace("'train', '--data', 'x', '--out', 'y'", "'--help'")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert listing.returncode == 0 and "Train a class-conditional GAN" in listing.stdout
