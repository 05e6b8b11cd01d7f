"""``medsynth generate`` does what its options say: --class/--n pairs, ISIC ground truth, one format per
folder, a progress bar of the images made now; ``medsynth info NAME`` names its own argument."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from medsynth import Generator, plan_balance
from medsynth.balance import read_label_counts
from medsynth.cli import main
from medsynth.errors import DataError

SHARED_ISIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "isic2017"
ISIC_GT = SHARED_ISIC / "ISIC-2017_GroundTruth_train_val.csv"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, match):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert match in lines[0], lines[0]


def manifest_rows(out):
    with (out / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_class_and_n_pair_in_order(tmp_path, tiny_model):
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
        "nevus",
        "--n",
        2,
        "--out",
        out,
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    assert Counter(r["class"] for r in manifest_rows(out)) == {"melanoma": 4, "nevus": 2}
    gen = Generator.load(tiny_model, device="cpu")
    expected, _ = gen.generate(4, "melanoma", seed=0)
    with Image.open(out / "melanoma" / "melanoma_000003.png") as png:
        np.testing.assert_array_equal(np.asarray(png), expected[3])
    # The i-th --n belongs to the i-th --class, wherever the options stand.
    grouped = tmp_path / "grouped"
    assert (
        run(
            "generate",
            "--model",
            tiny_model,
            "--class",
            "melanoma",
            "--class",
            "nevus",
            "--n",
            4,
            "--n",
            2,
            "--out",
            grouped,
            "--quiet",
        ).exit_code
        == 0
    )
    assert Counter(r["class"] for r in manifest_rows(grouped)) == {"melanoma": 4, "nevus": 2}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (
            ["--class", "melanoma", "--n", 4, "--class", "nevus"],
            "2 --class but 1 --n: give one --n per --class",
        ),
        (["--class", "melanoma", "--n", 4, "--n", 2], "1 --class but 2 --n"),
        (["--class", "melanoma", "--n", 4, "--class", "1", "--n", 2], "--class 1 is given twice"),
        (["--class", "melanoma", "--n", 4, "--class", "melanoma", "--n", 2], "is given twice"),
    ],
)
def test_mismatched_class_and_n_are_one_line_errors(tmp_path, tiny_model, args, match):
    out = tmp_path / "out"
    assert_one_line_error(run("generate", "--model", tiny_model, "--out", out, *args), match)
    assert not out.exists()


def write_ground_truth(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "melanoma", "seborrheic_keratosis"])
        writer.writerows((f"ISIC_{i:07d}", mel, sk) for i, (mel, sk) in enumerate(rows))
    return path


@pytest.mark.parametrize("label_column", [None, "seborrheic_keratosis", "melanoma"])
def test_balance_from_isic_ground_truth(tmp_path, tiny_model, label_column):
    # 7 nevi (0,0), 3 melanomas (1,0), 1 seborrheic keratosis (0,1), written as ISIC writes them.
    labels = write_ground_truth(
        tmp_path / "ISIC-2017_GroundTruth.csv", [("0.0", "0.0")] * 7 + [("1.0", "0.0")] * 3 + [("0", "1")]
    )
    out = tmp_path / "out"
    extra = [] if label_column is None else ["--label-column", label_column]
    result = run("generate", "--model", tiny_model, "--balance-from", labels, *extra, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert Counter(r["class"] for r in manifest_rows(out)) == {"melanoma": 4, "seborrheic_keratosis": 6}


def test_isic_ground_truth_counts_match_training_and_the_shared_file(tmp_path):
    from medsynth.imageset.folders import list_csv

    if not ISIC_GT.is_file():
        pytest.skip(f"{ISIC_GT} is absent")
    counts = read_label_counts(ISIC_GT, "diagnosis")
    assert counts == Counter(name for _, name, _ in list_csv(ISIC_GT, None).rows)
    # Independent oracle: the 0/1 columns counted directly.
    with ISIC_GT.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    mel = sum(float(r["melanoma"]) == 1 for r in rows)
    sk = sum(float(r["seborrheic_keratosis"]) == 1 for r in rows)
    assert counts == {"melanoma": mel, "seborrheic_keratosis": sk, "nevus": len(rows) - mel - sk}
    assert plan_balance(dict(counts))["melanoma"] == len(rows) - mel - sk - mel


def test_bad_ground_truth_rows_are_data_errors(tmp_path):
    both = write_ground_truth(tmp_path / "both.csv", [("1", "1")])
    with pytest.raises(DataError, match="line 2: both melanoma and seborrheic_keratosis are 1"):
        read_label_counts(both, "diagnosis")
    text = write_ground_truth(tmp_path / "text.csv", [("0", "0"), ("yes", "0")])
    with pytest.raises(DataError, match="line 3: 'melanoma' is 'yes', not 0 or 1"):
        read_label_counts(text, "diagnosis")


@pytest.mark.parametrize(("first", "second"), [("png", "npz"), ("npz", "dcm"), ("dcm", "png")])
def test_one_format_per_folder(tmp_path, tiny_model, first, second):
    out = tmp_path / "out"
    assert (
        run(
            "generate",
            "--model",
            tiny_model,
            "--class",
            "nevus",
            "--n",
            2,
            "--out",
            out,
            "--format",
            first,
            "--quiet",
        ).exit_code
        == 0
    )
    before = manifest_rows(out)
    result = run(
        "generate", "--model", tiny_model, "--class", "nevus", "--n", 2, "--out", out, "--format", second
    )
    assert_one_line_error(result, f"holds {first} images; a folder holds one format")
    assert manifest_rows(out) == before and len(before) == 2


def test_progress_bar_counts_only_the_images_made_now(tmp_path, tiny_model):
    out = tmp_path / "out"
    assert (
        run(
            "generate", "--model", tiny_model, "--class", "nevus", "--n", 4, "--out", out, "--quiet"
        ).exit_code
        == 0
    )
    more = run("generate", "--model", tiny_model, "--class", "nevus", "--n", 7, "--out", out)
    assert more.exit_code == 0, more.stderr
    assert "3 written now; 4 were already there" in more.stdout
    totals = set(re.findall(r"\b\d+/(\d+)\b", more.stderr))
    assert totals == {"3"} and "3/3" in more.stderr, more.stderr
    done = run("generate", "--model", tiny_model, "--class", "nevus", "--n", 7, "--out", out)
    assert done.exit_code == 0 and done.stderr == "" and "7 were already there" in done.stdout


def test_info_hint_names_its_own_argument(tmp_path):
    result = run("info", "no-such-model")
    assert_one_line_error(result, "no bundled model named 'no-such-model'")
    assert "--model" not in result.stderr and "path of a medsynth ONNX generator" in result.stderr
