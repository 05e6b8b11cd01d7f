"""Bounded inputs: model cards (class names, depth, size, dimensions) and integer arguments, each a typed
error and, through the CLI, one line and exit code 2."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from medsynth import Generator
from medsynth.cli import main
from medsynth.errors import ArgumentError, ModelError, UnknownClassError
from medsynth.model_card import ModelCard, stamp_card
from medsynth.writers.run import write_run


@pytest.fixture
def card(onnx_models):
    return onnx_models.make_card()


def doc(card, **changes):
    value = json.loads(card.to_json())
    value.update(changes)
    return value


@pytest.mark.parametrize(
    "name",
    [
        "manifest.csv",
        "Manifest.CSV",
        "images.npz",
        "a:b",
        "a/b",
        "a\\b",
        ".hidden",
        "..",
        "CON",
        "nul.txt",
        "com1",
        "line\nbreak",
        "tab\there",
        "x" * 65,
        " pad",
        "dot.",
        "q?",
        "a*b",
        'say"',
        "<x>",
        "a|b",
        "\x00",
    ],
)
def test_unsafe_class_names_are_refused_when_the_card_is_read(card, name):
    with pytest.raises(ModelError, match="class name"):
        ModelCard.from_json(json.dumps(doc(card, classes=["ok", name])), source="m.onnx")


@pytest.mark.parametrize(
    "name",
    ["melanoma", "seborrheic keratosis", "Typ-2_b", "x" * 64, "naevus (blue)", "Läsion", "console", "a.b"],
)
def test_ordinary_class_names_are_accepted(card, name):
    assert name in ModelCard.from_json(json.dumps(doc(card, classes=["ok", name])), source="m.onnx").classes


def test_case_fold_duplicates_are_refused(card):
    with pytest.raises(ModelError, match="differ only in case"):
        ModelCard.from_json(json.dumps(doc(card, classes=["Melanoma", "melanoma"])), source="m.onnx")


def test_deep_large_and_huge_cards_are_refused(card):
    deep = json.dumps(doc(card))[:-1] + ', "x": ' + "[" * 900 + "]" * 900 + "}"
    with pytest.raises(ModelError, match="nests deeper than 32"):
        ModelCard.from_json(deep, source="m.onnx")
    strings = json.dumps(doc(card, description="[" * 5000))  # brackets inside a string do not count
    assert ModelCard.from_json(strings, source="m.onnx").description == "[" * 5000
    big = json.dumps(doc(card, description="x" * (2 << 20)))
    with pytest.raises(ModelError, match="more than a model card may hold"):
        ModelCard.from_json(big, source="m.onnx")
    for field, value in (("latent_dim", 10**9), ("image_size", 100_000)):
        with pytest.raises(ModelError, match=field):
            ModelCard.from_json(json.dumps(doc(card, **{field: value})), source="m.onnx")
    with pytest.raises(ModelError, match="10001 classes"):
        ModelCard.from_json(json.dumps(doc(card, classes=[f"c{i}" for i in range(10_001)])), source="m.onnx")


def test_a_deep_card_in_a_model_file_is_one_cli_line(tmp_path, card, onnx_models):
    model = onnx_models.build_model(card)
    stamp_card(model, card)
    entry = next(e for e in model.metadata_props if e.key == "medsynth")
    entry.value = entry.value[:-1] + ', "x": ' + "[" * 900 + "]" * 900 + "}"
    path = tmp_path / "deep.onnx"
    onnx.save(model, path)
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 2 and result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_unknown_class_message_of_a_big_model_stays_short(card):
    many = card.replace(classes=tuple(f"class{i}" for i in range(10_000)))
    with pytest.raises(UnknownClassError) as info:
        many.class_index("nope" * 1000)
    assert len(str(info.value)) < 1000 and "and 9980 more" in str(info.value)


@pytest.fixture(scope="module")
def gen(tiny_model):
    return Generator.load(tiny_model, device="cpu")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda g: g.generate(1, 0, seed=2**63), "seed must be between 0 and"),
        (lambda g: g.generate(1, 0, seed=-1), "seed must be between 0 and"),
        (lambda g: g.generate(1, 0, start=2**63), "start must be between 0 and"),
        (lambda g: g.generate(2, 0, start=2**63 - 1), "start \\+ n"),
        (lambda g: g.generate(1, 0, batch_size=10**9), "batch_size must be between 1 and"),
        (lambda g: g.generate(np.int64(0), 0), "n must be between 1 and"),
        (lambda g: g.generate(True, 0), "n must be an integer"),
        (lambda g: g.generate_indices(0, [2**63]), "image indices must be between 0 and"),
    ],
)
def test_integer_arguments_are_bounded(gen, call, match):
    with pytest.raises(ArgumentError, match=match):
        call(gen)


def test_the_largest_start_still_works(gen):
    images, _ = gen.generate(1, 0, start=2**63 - 1)
    assert images.shape == (1, 8, 8, 3)


def test_threads_and_plan_counts_are_bounded(tiny_model, gen, tmp_path):
    with pytest.raises(ArgumentError, match="threads must be between 1 and 1024"):
        Generator.load(tiny_model, device="cpu", threads=4294967296)
    with pytest.raises(ArgumentError, match="must be between 0 and"):
        write_run(gen, {"nevus": 2**64}, tmp_path / "o")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args", [["--threads", "4294967296"], ["--seed", str(2**64)]])
def test_cli_integer_arguments_are_one_line(tiny_model, tmp_path, args):
    result = CliRunner().invoke(
        main,
        [
            "generate",
            "--model",
            str(tiny_model),
            "--class",
            "nevus",
            "--n",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            *args,
        ],
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
