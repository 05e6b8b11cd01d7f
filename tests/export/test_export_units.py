"""The pieces of the export on small hand-made inputs: path scrubbing, intensity, card defaults, graph checks,
float16 weight storage."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from medsynth.errors import DataError, ModelError
from medsynth.export.card import build_card, intensity_from_config, looks_like_path, scrub_paths
from medsynth.export.onnx_export import check_graph, store_weights_fp16
from medsynth.training.checkpoint import CheckpointMeta

META = {
    "config": {"arch": "sngan", "image_size": 32, "latent_dim": 4, "seed": 7, "window": "", "data": "isic"},
    "classes": ["a", "b"],
    "channels": 3,
    "dataset": "d",
    "iteration": 10,
}


def _meta(doc):
    """The description ``doc`` as a checkpoint's JSON reads back."""
    return CheckpointMeta.from_json({"format": "medsynth-checkpoint", "version": 1, **doc}, "test.json")


@pytest.mark.parametrize(
    "text", ["/data/isic", "~/x", "./rel", "../up", "runs/a", "C:\\data", "D:/x", "a\\b"]
)
def test_paths_are_recognised(text):
    assert looks_like_path(text)


@pytest.mark.parametrize(
    "text",
    [
        "CC BY 4.0 (MedMNIST v2)",
        "-600,1500",
        "color,translation,cutout",
        "sngan",
        "https://challenge.isic-archive.com/data/",
        "ISIC (isic2017, split train)",
        "cpu (torch 2.13.0+cpu)",
        "",
    ],
)
def test_non_paths_are_kept(text):
    assert not looks_like_path(text)


def test_scrub_paths_names_what_it_removed():
    clean, removed = scrub_paths(
        {
            "data": "isic2017",
            "lr": 2e-4,
            "url": "https://x.org/a",
            "extra": {"src": "/home/u/x", "n": [1, "a/b"]},
        }
    )
    assert clean == {"lr": 2e-4, "extra": {"n": [1]}, "url": "https://x.org/a"}
    assert removed == ["data", "extra.src", "extra.n[1]"]


def test_intensity_from_windows():
    assert intensity_from_config("", "XC") == ({"kind": "display"}, [])
    assert intensity_from_config("40,400", "CT")[0] == {
        "kind": "window",
        "center": 40.0,
        "width": 400.0,
        "units": "HU",
    }
    assert intensity_from_config("brain", "CT")[0] == {
        "kind": "window",
        "center": 40.0,
        "width": 80.0,
        "units": "HU",
    }
    assert intensity_from_config("300,600", "MR")[0] == {"kind": "window", "center": 300.0, "width": 600.0}
    intensity, notes = intensity_from_config("from-file", "CT")
    assert intensity == {"kind": "display"} and "from-file" in notes[0]
    with pytest.raises(DataError, match="unknown window"):
        intensity_from_config("wide", "CT")


def test_card_from_a_windowed_config_carries_the_window():
    meta = {**META, "channels": 1, "config": {**META["config"], "window": "-600,1500"}}
    card, notes = build_card(_meta(meta), name="ct", modality="ct")
    assert (card.modality, card.photometric) == ("CT", "MONOCHROME2")
    assert dict(card.intensity) == {"kind": "window", "center": -600.0, "width": 1500.0, "units": "HU"}
    assert notes == ["left out of the card as file locations: config data"]


def test_card_defaults_and_bad_values():
    card, _ = build_card(_meta(META), name="m")
    assert card.modality == "XC"
    assert card.description == "sngan class-conditional GAN, 32x32 RGB, trained on d"
    assert build_card(_meta({**META, "modality": "us"}), name="m")[0].modality == "US"
    with pytest.raises(DataError, match="JSON-serialisable"):
        build_card(_meta(META), name="m", metrics={"x": object()})
    with pytest.raises(DataError, match="'name'"):
        build_card(_meta(META), name=" ")
    with pytest.raises(DataError, match="class name"):
        build_card(_meta({**META, "classes": ["a/b", "c"]}), name="m")


def tiny_graph(*, extra_nodes=(), batch="batch", initializer=None):
    """image = Reshape(z @ W + embedding[label]) with z (N, 4), label (N,), image (N, 1, 2, 2)."""
    rng = np.random.default_rng(0)
    w = initializer if initializer is not None else rng.standard_normal((4, 4)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["z", "W"], ["h"]),
        helper.make_node("Gather", ["E", "label"], ["e"]),
        helper.make_node("Add", ["h", "e"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["image"]),
        *extra_nodes,
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, 4]),
            helper.make_tensor_value_info("label", TensorProto.INT64, [batch]),
        ],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 1, 2, 2])],
        [
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(rng.standard_normal((2, 4)).astype(np.float32), "E"),
            numpy_helper.from_array(np.array([-1, 1, 2, 2], dtype=np.int64), "shape"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)


def test_check_graph_accepts_the_contract():
    check_graph(tiny_graph())


@pytest.mark.parametrize(
    "node, match",
    [
        (helper.make_node("Dropout", ["z"], ["dz"]), "training-only op \\(Dropout\\)"),
        (helper.make_node("RandomNormal", [], ["r"], shape=[1], dtype=TensorProto.FLOAT), "training-only"),
        (helper.make_node("Gelu", ["z"], ["g"], domain="com.microsoft"), "not a standard ONNX op"),
    ],
)
def test_check_graph_refuses_training_and_foreign_ops(node, match):
    model = tiny_graph(extra_nodes=[node])
    if node.domain:
        model.opset_import.append(helper.make_opsetid(node.domain, 1))
    with pytest.raises(ModelError, match=match):
        check_graph(model)


def test_check_graph_refuses_fixed_batch_and_wrong_pins():
    with pytest.raises(ModelError, match="fixed batch size 2"):
        check_graph(tiny_graph(batch=2))
    model = tiny_graph()
    model.ir_version = 9
    with pytest.raises(ModelError, match="IR version 9"):
        check_graph(model)


def test_check_graph_refuses_training_mode_batch_norm():
    names = ["bn_x", "bn_scale", "bn_bias", "bn_mean", "bn_var"]
    bn = helper.make_node("BatchNormalization", names, ["bn_y", "bn_rm", "bn_rv"], training_mode=1)
    model = tiny_graph(extra_nodes=[bn])
    model.graph.initializer.append(numpy_helper.from_array(np.ones((1, 2, 2, 2), np.float32), "bn_x"))
    model.graph.initializer.extend(numpy_helper.from_array(np.ones(2, np.float32), n) for n in names[1:])
    with pytest.raises(ModelError, match="batch norm in training mode"):
        check_graph(model)


def test_fp16_weights_round_each_weight_and_keep_float32_io():
    w = (np.random.default_rng(1).standard_normal((4, 4)) * 10).astype(np.float32)
    model = tiny_graph(initializer=w)
    assert store_weights_fp16(model) == 1  # W (16 values); E (8 values) and the int64 shape stay
    check_graph(model)
    by_name = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert by_name["W_fp16"].dtype == np.float16 and by_name["E"].dtype == np.float32
    z = np.eye(4, dtype=np.float32)
    label = np.zeros(4, dtype=np.int64)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(["image"], {"z": z, "label": label})[0].reshape(4, 4)
    want = w.astype(np.float16).astype(np.float32) + by_name["E"][0]  # z = I picks the rows of W
    np.testing.assert_array_equal(got, want)
    assert 0 < np.abs(got - (w + by_name["E"][0])).max() <= np.abs(w).max() * 2.0**-11
    onnx.checker.check_model(model, full_check=True)


def test_the_resize_policy_goes_from_the_checkpoint_into_the_card():
    recorded = _meta({**META, "resize_policy": "center-crop+lanczos"})
    assert recorded.to_json()["resize_policy"] == "center-crop+lanczos"
    assert CheckpointMeta.from_json(recorded.to_json(), "x.json") == recorded
    card, _ = build_card(recorded, name="m")
    assert card.resize_policy == "center-crop+lanczos"
    older = _meta(META)  # written before the field: none recorded, none claimed
    assert older.resize_policy == "" and "resize_policy" not in older.to_json()
    card, _ = build_card(older, name="m")
    assert card.resize_policy == "" and "resize_policy" not in card.to_dict()
    with pytest.raises(DataError, match="'resize_policy' must be str"):
        _meta({**META, "resize_policy": 3})
