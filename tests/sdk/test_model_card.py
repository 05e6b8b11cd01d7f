"""The model card: JSON round trip, validation, class lookup, stamping and the graph check."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import onnx
import pytest

from medsynth.errors import ModelError, UnknownClassError
from medsynth.model_card import (
    METADATA_KEY,
    SCHEMA_VERSION,
    ModelCard,
    check_card_against_graph,
    read_card,
    stamp_card,
)


@pytest.fixture
def card(onnx_models):
    return onnx_models.make_card()


def _doc(card, **changes):
    doc = json.loads(card.to_json())
    doc.update(changes)
    return doc


def test_json_round_trip_is_equal_and_stable(card):
    text = card.to_json()
    again = ModelCard.from_json(text, source="x.onnx")
    assert again == card
    assert again.to_json() == text
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION == 1
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_optional_fields_default_and_unknown_keys_are_kept(card):
    doc = _doc(card, future_field={"a": [1, 2]})
    for key in ("description", "provenance", "metrics"):
        del doc[key]
    card = ModelCard.from_json(json.dumps(doc), source="m.onnx")
    assert card.description == "" and dict(card.provenance) == {} and dict(card.metrics) == {}
    assert card.extra["future_field"]["a"] == (1, 2)
    assert json.loads(card.to_json())["future_field"] == {"a": [1, 2]}


def test_resize_policy_is_optional_and_older_cards_load_unchanged(card):
    text = card.to_json()  # a card as written before the field existed: no resize_policy key
    assert "resize_policy" not in json.loads(text)
    old = ModelCard.from_json(text, source="old.onnx")
    assert old.resize_policy == "" and old.to_json() == text  # byte for byte as it was
    new = card.replace(resize_policy="center-crop+lanczos")
    assert json.loads(new.to_json())["resize_policy"] == "center-crop+lanczos"
    again = ModelCard.from_json(new.to_json(), source="new.onnx")
    assert again == new and again.resize_policy == "center-crop+lanczos" and not again.extra
    for bad in (5, "x" * 65, "a\nb", None):
        with pytest.raises(ModelError, match="'resize_policy' must be a printable name"):
            ModelCard.from_json(json.dumps(_doc(card, resize_policy=bad)), source="m.onnx")


def test_the_bundled_cards_predate_the_resize_policy_and_still_load():
    from medsynth.generator import Generator

    for name in ("isic2017-64", "isic2017-128"):
        assert Generator.load(name, device="cpu", threads=1).card.resize_policy == ""


def test_card_is_frozen_deeply(card, onnx_models):
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        card.provenance["dataset"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        card.provenance["images_per_class"]["nevus"] = 0  # type: ignore[index]
    assert card.replace(name="other").name == "other" and card.name == "tiny-test"
    assert hash(card) == hash(onnx_models.make_card())


@pytest.mark.parametrize("version", [0, 2, "1", 1.0, None])
def test_unknown_schema_version_is_refused(card, version):
    with pytest.raises(ModelError, match="schema_version") as info:
        ModelCard.from_json(json.dumps(_doc(card, schema_version=version)), source="bad.onnx")
    assert "bad.onnx" in str(info.value)


@pytest.mark.parametrize(
    "field",
    [
        "name",
        "classes",
        "latent_dim",
        "image_size",
        "channels",
        "photometric",
        "modality",
        "intensity",
        "license",
        "intended_use",
        "medsynth_version",
    ],
)
def test_missing_required_field_is_named(card, field):
    doc = _doc(card)
    del doc[field]
    with pytest.raises(ModelError, match=field):
        ModelCard.from_json(json.dumps(doc), source="m.onnx")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channels": 2}, "channels"),
        ({"channels": True}, "channels"),
        ({"photometric": "MONOCHROME2"}, "photometric"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"image_size": 8.0}, "image_size"),
        ({"classes": []}, "classes"),
        ({"classes": ["a", "a"]}, "classes"),
        ({"classes": ["a", "b/c"]}, "b/c"),
        ({"classes": ["a", ".."]}, "'..'"),
        ({"classes": "ab"}, "classes"),
        ({"name": ""}, "name"),
        ({"intensity": {"kind": "hdr"}}, "intensity"),
        ({"intensity": {"kind": "window", "center": 40}}, "width"),
        ({"intensity": {"kind": "window", "center": 40, "width": 0}}, "width"),
        ({"provenance": [1]}, "provenance"),
    ],
)
def test_bad_field_values_are_refused_with_the_field_named(card, changes, field):
    with pytest.raises(ModelError, match=field):
        ModelCard.from_json(json.dumps(_doc(card, **changes)), source="m.onnx")


@pytest.mark.parametrize("text", ["not json", "[1, 2]", ""])
def test_non_object_json_is_refused(text):
    with pytest.raises(ModelError, match="m.onnx"):
        ModelCard.from_json(text, source="m.onnx")


def test_class_index_by_name_and_index(card):
    assert card.class_index("melanoma") == 1
    assert card.class_index(2) == 2
    for bad in ("naevus", 3, -1, True, 1.0):
        with pytest.raises(UnknownClassError) as info:
            card.class_index(bad)
        assert "0=nevus, 1=melanoma, 2=seborrheic_keratosis" in str(info.value)
    assert isinstance(UnknownClassError("x"), ValueError)


def test_stamp_replaces_and_read_card_round_trips(tmp_path, card, onnx_models):
    model = onnx_models.build_model(card, stamp=False)
    model.metadata_props.add(key="other", value="kept")
    stamp_card(model, card.replace(name="first"))
    stamp_card(model, card)
    keys = [entry.key for entry in model.metadata_props]
    assert sorted(keys) == ["medsynth", "other"]
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    assert read_card(path) == card
    reloaded = onnx.load(path)
    stored = {e.key: e.value for e in reloaded.metadata_props}
    assert json.loads(stored[METADATA_KEY])["name"] == "tiny-test" and stored["other"] == "kept"


def test_read_card_refuses_a_model_without_card(model_factory):
    path = model_factory("nocard", stamp=False)
    with pytest.raises(ModelError, match="no 'medsynth' model card") as info:
        read_card(path)
    assert str(path) in str(info.value)


def _arg(name, shape, dtype="tensor(float)"):
    return SimpleNamespace(name=name, shape=shape, type=dtype)


def _graph(latent=16, channels=3, size=8):
    inputs = [_arg("z", ["batch", latent]), _arg("label", ["batch"], "tensor(int64)")]
    outputs = [_arg("image", ["batch", channels, size, size])]
    return inputs, outputs


def test_graph_check_accepts_symbolic_and_matching_dims(card):
    check_card_against_graph(card, *_graph(), source="m.onnx")
    check_card_against_graph(
        card,
        [_arg("z", [None, None]), _arg("label", [None], "tensor(int64)")],
        [_arg("image", ["n", "c", "h", "w"])],
        source="m.onnx",
    )


@pytest.mark.parametrize(
    ("graph", "match"),
    [
        (_graph(latent=12), "dimension 1 = 12 .* says 16"),
        (_graph(channels=1), "dimension 1 = 1 .* says 3"),
        (_graph(size=16), "dimension 2 = 16 .* says 8"),
        (
            ([_arg("noise", ["b", 16]), _arg("label", ["b"], "tensor(int64)")], _graph()[1]),
            "no input named 'z'",
        ),
        (([_arg("z", ["b", 16]), _arg("label", ["b"], "tensor(int32)")], _graph()[1]), "tensor\\(int64\\)"),
        ((_graph()[0], [_arg("out", ["b", 3, 8, 8])]), "no output named 'image'"),
        ((_graph()[0], [_arg("image", ["b", 3, 64])]), "rank 4"),
        ((_graph()[0] + [_arg("extra", ["b"])], _graph()[1]), "extra input"),
    ],
)
def test_graph_check_refuses_disagreement(card, graph, match):
    with pytest.raises(ModelError, match=match) as info:
        check_card_against_graph(card, *graph, source="m.onnx")
    assert "m.onnx" in str(info.value)
