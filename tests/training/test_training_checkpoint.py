"""Checkpoints: a safetensors + JSON pair that round-trips every tensor and the description, keeps the newest
few, and refuses files that are not ours."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from training_helpers import tiny_config

from medsynth.errors import DataError
from medsynth.training.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    resolve_checkpoint,
    restore_optimizer,
    save_checkpoint,
)
from medsynth.training.loop import build_networks


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
    meta = {"config": tiny_config().to_dict(), "classes": ["a", "b"],
            "history": [{"epoch": 1, "loss_d": 0.5}]}
    path = save_checkpoint(tmp_path / "ck", 7, {"G": g, "D": d}, {"opt_g": opt}, rng, meta)
    assert path.name == "ckpt-00000007.safetensors" and path.with_suffix(".json").is_file()
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    ck = load_checkpoint(path)
    for prefix, net in (("G", g), ("D", d)):
        state = net.state_dict()
        assert set(ck.state(prefix)) == set(state)
        for key, value in ck.state(prefix).items():
            assert torch.equal(value, state[key]), key
    assert {k: ck.meta[k] for k in meta} == json.loads(json.dumps(meta))
    assert ck.meta["iteration"] == 7 and ck.meta["format"] == "medsynth-checkpoint"
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
        save_checkpoint(tmp_path / "checkpoints", it, {"G": g}, {}, torch.Generator(), {}, keep=2)
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
    with pytest.raises(DataError, match="version 99 is not supported"):
        load_checkpoint(lone)
    lone.with_suffix(".json").write_text(json.dumps({"format": "medsynth-checkpoint", "version": 1}))
    lone.write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(DataError, match="cannot read"):
        load_checkpoint(lone)
