"""Checkpoints: a safetensors + JSON pair that round-trips every tensor and the description, keeps the newest
few, and refuses files that are not ours."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from helpers.training import tiny_config
from safetensors.torch import save_file

from medsynth.errors import DataError
from medsynth.training.checkpoint import (
    CheckpointMeta,
    list_checkpoints,
    load_checkpoint,
    resolve_checkpoint,
    restore_optimizer,
    save_checkpoint,
)
from medsynth.training.nets.factory import build_networks


def _trained_pair():
    torch.manual_seed(0)
    g, d = build_networks(tiny_config("sngan"), 2, 3)
    opt = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.0, 0.99))
    for _ in range(2):
        opt.zero_grad()
        g(torch.randn(4, 8), torch.tensor([0, 1, 0, 1])).square().mean().backward()
        opt.step()
    return g, d, opt


def test_round_trip_tensors_meta_optimizer_and_rng(tmp_path):
    g, d, opt = _trained_pair()
    rng = torch.Generator().manual_seed(5)
    rng_state = rng.get_state().clone()
    meta = CheckpointMeta(
        config=tiny_config(),
        classes=("a", "b"),
        channels=3,
        iteration=7,
        history=({"epoch": 1, "loss_d": 0.5},),
        rng_numpy={"state": {"state": 2**100}},
    )
    path = save_checkpoint(tmp_path / "ck", {"G": g, "D": d}, {"opt_g": opt}, rng, meta)
    assert path.name == "ckpt-00000007.safetensors" and path.with_suffix(".json").is_file()
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    ck = load_checkpoint(path)
    for prefix, net in (("G", g), ("D", d)):
        state = net.state_dict()
        assert set(ck.state(prefix)) == set(state)
        for key, value in ck.state(prefix).items():
            assert torch.equal(value, state[key]), key
    assert dataclasses.replace(ck.meta, optimizers={}) == meta
    assert set(ck.meta.optimizers) == {"opt_g"}
    doc = json.loads(path.with_suffix(".json").read_text())
    assert (doc["iteration"], doc["format"], doc["version"]) == (7, "medsynth-checkpoint", 1)
    assert doc["arch"] == "sngan"  # for readers of the untyped description
    assert torch.equal(ck.tensors["rng.torch"], rng_state)

    fresh = torch.optim.Adam(g.parameters(), lr=1.0)
    restore_optimizer(fresh, ck, "opt_g")
    saved, restored = opt.state_dict(), fresh.state_dict()
    group = restored["param_groups"][0]
    assert group["lr"] == 1e-3 and list(group["betas"]) == [0.0, 0.99]
    for idx, per in saved["state"].items():
        for key, value in per.items():
            assert torch.equal(torch.as_tensor(restored["state"][idx][key]), torch.as_tensor(value))


def test_keep_deletes_the_oldest_pairs_and_a_folder_means_its_latest(tmp_path):
    g, d, opt = _trained_pair()
    for it in (1, 2, 3):
        meta = CheckpointMeta(config=tiny_config(), classes=("a", "b"), channels=3, iteration=it)
        save_checkpoint(tmp_path / "checkpoints", {"G": g}, {}, torch.Generator(), meta, keep=2)
    names = [p.name for p in list_checkpoints(tmp_path / "checkpoints")]
    assert names == ["ckpt-00000002.safetensors", "ckpt-00000003.safetensors"]
    assert not (tmp_path / "checkpoints" / "ckpt-00000001.json").exists()
    assert resolve_checkpoint(tmp_path).name == "ckpt-00000003.safetensors"


def test_bad_checkpoints_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="holds no checkpoint"):
        resolve_checkpoint(tmp_path)
    lone = tmp_path / "ckpt-00000001.safetensors"
    save_file({"x": torch.zeros(1)}, str(lone))
    with pytest.raises(DataError, match="has no ckpt-00000001.json beside it"):
        load_checkpoint(lone)
    lone.with_suffix(".json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(DataError, match="is not a medsynth checkpoint"):
        load_checkpoint(lone)
    lone.with_suffix(".json").write_text(json.dumps({"format": "medsynth-checkpoint", "version": 99}))
    with pytest.raises(DataError, match="version 99 is not supported.*upgrade medsynth"):
        load_checkpoint(lone)
    lone.with_suffix(".json").write_text(json.dumps({"format": "medsynth-checkpoint", "version": 1}))
    with pytest.raises(DataError, match="lacks config, classes, channels, iteration"):
        load_checkpoint(lone)
    good = CheckpointMeta(config=tiny_config(), classes=("a", "b"), channels=3, iteration=1).to_json()
    for key, value, match in (
        ("channels", 2, "'channels' must be 1 or 3"),
        ("classes", [], "'classes' must be a non-empty list"),
        ("history", {"a": 1}, "'history' must be list"),
        ("config", {**good["config"], "lr_g": "fast"}, "lr_g must be float"),
    ):
        lone.with_suffix(".json").write_text(json.dumps({**good, key: value}))
        with pytest.raises(DataError, match=match):
            load_checkpoint(lone)
    lone.with_suffix(".json").write_text(json.dumps(good))
    lone.write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(DataError, match="cannot read"):
        load_checkpoint(lone)


SHARED_RUN = Path("/work/main/runs/isic128/checkpoints/ckpt-00005952.json")  # written before CheckpointMeta


def test_a_description_written_before_the_dataclass_still_reads():
    """A real run's JSON (the isic2017-128 model's, from before CheckpointMeta and class_weight) reads back
    with every value; one without a version key reads as version 1."""
    if not SHARED_RUN.is_file():
        pytest.skip(f"{SHARED_RUN} (a real run's checkpoint description) is not on this machine")
    doc = json.loads(SHARED_RUN.read_text())
    meta = CheckpointMeta.from_json(doc, str(SHARED_RUN))
    assert meta.iteration == doc["iteration"] == 5952 and meta.classes == tuple(doc["classes"])
    assert meta.config.arch == doc["arch"] == "projected" and meta.config.class_weight == 0.0
    assert {k: v for k, v in meta.config.to_dict().items() if k in doc["config"]} == doc["config"]
    assert (meta.images_per_class, meta.world_size) == (doc["images_per_class"], 1)
    assert meta.history == tuple(doc["history"]) and meta.rng_numpy == doc["rng_numpy"]
    assert meta.to_json() == {**doc, "config": meta.config.to_dict(), "world_size": 1}
    unversioned = {k: v for k, v in doc.items() if k != "version"}
    assert CheckpointMeta.from_json(unversioned, "x") == meta
