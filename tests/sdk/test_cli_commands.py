"""The CLI through click's CliRunner: output, balancing, and one-line errors that write nothing."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter

import onnx
import pytest
from click.testing import CliRunner

from medsynth import plan_balance
from medsynth.cli import main
from medsynth.errors import ModelError
from medsynth.registry import DEFAULT_MODEL, REGISTRY


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, match):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert match in lines[0], lines[0]


def manifest_counts(out):
    with (out / "manifest.csv").open(newline="") as handle:
        return Counter(row["class"] for row in csv.DictReader(handle))


def write_labels(path, column, values):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", column])
        writer.writerows((f"img{i}", value) for i, value in enumerate(values))
    return path


def test_generate_png_with_progress_and_summary(tmp_path, tiny_model):
    out = tmp_path / "out"
    result = run(
        "generate",
        "--model",
        tiny_model,
        "--class",
        "melanoma",
        "--n",
        4,
        "--class",
        "0",
        "--n",
        4,
        "--out",
        out,
        "--seed",
        3,
        "--batch-size",
        3,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        f"8 images (nevus 4, melanoma 4) in {out} as png, 8 written now; manifest {out / 'manifest.csv'}"
    )
    assert "8/8" in result.stderr and "img" in result.stderr  # the tqdm bar
    assert manifest_counts(out) == {"nevus": 4, "melanoma": 4}
    again = run(
        "generate",
        "--model",
        tiny_model,
        "--class",
        "melanoma",
        "--n",
        4,
        "--class",
        "0",
        "--n",
        4,
        "--out",
        out,
        "--seed",
        3,
        "--quiet",
    )
    assert again.exit_code == 0 and "8 were already there" in again.stdout and again.stderr == ""


def test_generate_npz(tmp_path, tiny_model):
    out = tmp_path / "out"
    result = run(
        "generate", "--model", tiny_model, "--class", "nevus", "--n", 2, "--out", out, "--format", "npz"
    )
    assert result.exit_code == 0, result.stderr
    assert (out / "images.npz").is_file() and manifest_counts(out) == {"nevus": 2}


def test_balance_from_generates_exactly_the_plan(tmp_path, tiny_model):
    labels = write_labels(
        tmp_path / "labels.csv", "diagnosis", ["nevus"] * 9 + ["melanoma"] * 4 + ["seborrheic_keratosis"] * 2
    )
    out = tmp_path / "out"
    result = run(
        "generate",
        "--model",
        tiny_model,
        "--balance-from",
        labels,
        "--label-column",
        "diagnosis",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.stderr
    plan = plan_balance({"nevus": 9, "melanoma": 4, "seborrheic_keratosis": 2})
    assert (
        manifest_counts(out)
        == {name: n for name, n in plan.items() if n}
        == {"melanoma": 5, "seborrheic_keratosis": 7}
    )
    assert not (out / "nevus").exists()
    to_six = tmp_path / "six"
    result = run("generate", "--model", tiny_model, "--balance-from", labels, "--target", 6, "--out", to_six)
    assert result.exit_code == 0 and manifest_counts(to_six) == {"melanoma": 2, "seborrheic_keratosis": 4}


def test_balanced_labels_need_nothing(tmp_path, tiny_model):
    labels = write_labels(tmp_path / "labels.csv", "diagnosis", ["nevus", "melanoma"])
    out = tmp_path / "out"
    result = run("generate", "--model", tiny_model, "--balance-from", labels, "--out", out)
    assert result.exit_code == 0 and "already balanced" in result.stdout and not out.exists()


def test_bad_labels_files_write_nothing(tmp_path, tiny_model):
    no_column = write_labels(tmp_path / "a.csv", "label", ["nevus"])
    unknown = write_labels(tmp_path / "b.csv", "diagnosis", ["nevus", "basal_cell_carcinoma"])
    out = tmp_path / "out"
    for labels, match in (
        (no_column, "has no column 'diagnosis'; its columns are image_id, label"),
        (unknown, "classes the model 'tiny-test' does not know: basal_cell_carcinoma"),
    ):
        assert_one_line_error(
            run(
                "generate",
                "--model",
                tiny_model,
                "--balance-from",
                labels,
                "--label-column",
                "diagnosis",
                "--out",
                out,
            ),
            match,
        )
    assert_one_line_error(
        run("generate", "--model", tiny_model, "--balance-from", tmp_path / "none.csv", "--out", out),
        "cannot read labels file",
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--class", "naevus", "--n", 2], "has no class 'naevus'; its classes are 0=nevus, 1=melanoma"),
        (["--class", "7", "--n", 2], "no class index 7"),
        (["--class", "nevus"], "--class needs --n"),
        ([], "say what to generate"),
        (["--class", "nevus", "--n", 2, "--balance-from", "x.csv"], "drop --class and --n"),
        (["--balance-from", "x.csv", "--target", "most"], "--target must be 'max'"),
    ],
)
def test_bad_arguments_are_one_line_and_write_nothing(tmp_path, tiny_model, args, match):
    if "x.csv" in args:
        write_labels(tmp_path / "x.csv", "diagnosis", ["nevus", "melanoma", "melanoma"])
        args = [tmp_path / "x.csv" if a == "x.csv" else a for a in args]
    out = tmp_path / "out"
    assert_one_line_error(run("generate", "--model", tiny_model, "--out", out, *args), match)
    assert not out.exists()


@pytest.mark.parametrize("n", [0, -5])
def test_n_must_be_positive(tmp_path, tiny_model, n):
    out = tmp_path / "out"
    result = run("generate", "--model", tiny_model, "--class", "nevus", "--n", n, "--out", out)
    assert result.exit_code == 2 and "--n" in result.stderr and not out.exists()


def test_bad_models_are_one_line_errors(tmp_path, nan_model, tiny_model, model_factory, onnx_models):
    out = tmp_path / "out"
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(tiny_model.read_bytes()[:-100])
    future = onnx_models.build_model(onnx_models.make_card())
    for entry in future.metadata_props:
        entry.value = entry.value.replace('"schema_version":1', '"schema_version":2')
    onnx.save(future, tmp_path / "future.onnx")
    cases = [
        (nan_model, "NaN"),
        (junk, "not a model onnxruntime can load"),
        (truncated, "not a model onnxruntime can load"),
        (tmp_path / "absent.onnx", "does not exist"),
        (model_factory("cli_nocard", stamp=False), "no 'medsynth' model card"),
        (model_factory("cli_shape", graph_latent_dim=12), "the card and the graph disagree"),
        (tmp_path / "future.onnx", "unsupported model card schema_version 2"),
    ]
    for model, match in cases:
        assert_one_line_error(
            run("generate", "--model", model, "--class", "nevus", "--n", 2, "--out", out), match
        )
    assert not out.exists()


@pytest.mark.skipif(DEFAULT_MODEL in REGISTRY, reason="the default model is bundled in this install")
def test_without_model_says_no_bundled_model_is_installed(tmp_path):
    out = tmp_path / "out"
    assert_one_line_error(
        run("generate", "--class", "melanoma", "--n", 2, "--out", out), "no bundled model is installed yet"
    )
    assert not out.exists()


def test_output_folder_of_another_seed_or_foreign_files(tmp_path, tiny_model):
    out = tmp_path / "out"
    assert run("generate", "--model", tiny_model, "--class", "nevus", "--n", 1, "--out", out).exit_code == 0
    assert_one_line_error(
        run("generate", "--model", tiny_model, "--class", "nevus", "--n", 1, "--out", out, "--seed", 5),
        "holds images of another seed",
    )
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("x")
    result = run("generate", "--model", tiny_model, "--class", "nevus", "--n", 1, "--out", foreign)
    assert_one_line_error(result, "not empty and was not written by medsynth")


def test_dcm_format_is_offered(tmp_path, tiny_model):
    out = tmp_path / "out"
    result = run(
        "generate", "--model", tiny_model, "--class", "nevus", "--n", 1, "--out", out, "--format", "dcm"
    )
    try:
        import medsynth.writers.dicom  # noqa: F401
    except ModuleNotFoundError:
        assert_one_line_error(result, "output format 'dcm' is not available")
        assert not out.exists()
    else:
        assert result.exit_code == 0, result.stderr
        assert (out / "nevus" / "nevus_000000.dcm").is_file()


def test_debug_shows_the_traceback(tmp_path):
    result = run("--debug", "generate", "--model", tmp_path / "absent.onnx", "--class", "a", "--n", 1)
    assert isinstance(result.exception, ModelError)


def test_info_and_models(tiny_model, onnx_models):
    result = run("info", tiny_model)
    assert result.exit_code == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines() if " " in line)
    assert lines["name"].strip() == "tiny-test"
    assert lines["classes"].strip() == "0=nevus, 1=melanoma, 2=seborrheic_keratosis"
    assert "8x8, 3 channel(s), RGB" in result.stdout and "provenance.dataset" in result.stdout
    as_json = run("info", "--json", tiny_model)
    assert json.loads(as_json.stdout) == onnx_models.make_card().to_dict()
    assert_one_line_error(run("info", "absent.onnx"), "does not exist")
    models = run("models")
    assert models.exit_code == 0
    if not len(REGISTRY):
        assert "No bundled model is installed yet" in models.stdout
    else:
        assert all(entry.name in models.stdout for entry in REGISTRY)


def test_help_lists_the_commands():
    result = run("--help")
    assert result.exit_code == 0
    for name in ("generate", "info", "models", "train", "export"):
        assert name in result.stdout
    generate_help = run("generate", "--help").stdout
    for option in (
        "--class",
        "--n",
        "--balance-from",
        "--label-column",
        "--model",
        "--out",
        "--format",
        "--seed",
        "--batch-size",
        "--device",
        "--threads",
    ):
        assert option in generate_help
    assert "dcm" in generate_help and "npz" in generate_help


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux procfs, unwritable even for root")
def test_unwritable_output_folder_is_one_line(tiny_model):
    out = "/proc/self/synthetic"
    result = run("generate", "--model", tiny_model, "--class", "nevus", "--n", 1, "--out", out)
    assert_one_line_error(result, "cannot create output folder /proc/self/synthetic")
