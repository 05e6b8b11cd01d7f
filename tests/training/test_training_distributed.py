"""Data-parallel training under torchrun on the CPU (gloo): two processes with a global batch of 4 compute
what one process computes, a resume at the same world size continues the run, another world size is refused.

Tolerance, after 6 iterations: the per-epoch losses (global means) agree to 1e-4 relative (measured: 2e-5),
and the trained networks' outputs on fixed inputs to 1/255 on the generator's [-1, 1] scale (half a uint8
grey level after export's mapping to 0..255) and 1e-3 relative on the discriminator's scores. They cannot
agree bit for bit: the batch-norm moments and the gradients are summed over the ranks in another order, and
Adam turns the rounding noise of gradients that are zero in exact arithmetic (conv biases before a batch
norm) into steps. A run resumed at world size 2 is bit for bit the uninterrupted run at world size 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.training import TINY_FLAGS, tiny_image_set
from PIL import Image

from medsynth.errors import DataError
from medsynth.training.checkpoint import load_checkpoint
from medsynth.training.distributed import SINGLE, World, world_from_env
from medsynth.training.nets.factory import build_networks

# sngan: batch-normed generator (global statistics), R1 and the WGAN-GP penalty (double backward),
# DiffAugment, dihedral flips and class-balanced sampling all on.
ARGS = [
    "--arch",
    "sngan",
    *TINY_FLAGS,
    "--ema-decay",
    "0.9",
    "--loss",
    "wasserstein",
    "--r1-gamma",
    "0.1",
    "--threads",
    "1",
]


def _class_tree(root: Path) -> Path:
    data = tiny_image_set((5, 7))  # 12 images, global batch 4: 3 iterations per epoch
    for i, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"img{i}.png")
    return root


def _train(out: Path, data: Path, epochs: int, nproc: int) -> subprocess.CompletedProcess[str]:
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
        if nproc > 1
        else [sys.executable]
    )
    command = [
        *launcher,
        "-m",
        "medsynth",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        *ARGS,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def _outputs(checkpoint: Path) -> tuple[torch.Tensor, torch.Tensor]:
    ckpt = load_checkpoint(checkpoint)
    g, d = build_networks(ckpt.meta.config, 2, 3)
    g.load_state_dict(ckpt.state("G"))
    d.load_state_dict(ckpt.state("D"))
    fixed = torch.Generator().manual_seed(5)
    z, y = torch.randn(8, 8, generator=fixed), torch.arange(8) % 2
    with torch.no_grad():
        images = g(z, y)  # training mode: batch statistics of these 8
        return images, d(images, y)


def _losses(checkpoint: Path) -> list[dict[str, float]]:
    history = json.loads(checkpoint.with_suffix(".json").read_text())["history"]
    return [{k: v for k, v in h.items() if k != "wall_time_s"} for h in history]


@pytest.mark.slow
def test_two_processes_match_one_and_resume_at_the_same_world_size(tmp_path):
    data = _class_tree(tmp_path / "data")
    single = _train(tmp_path / "one", data, epochs=2, nproc=1)
    assert single.returncode == 0, single.stderr
    straight = _train(tmp_path / "straight", data, epochs=2, nproc=2)
    assert straight.returncode == 0, straight.stderr
    first = _train(tmp_path / "two", data, epochs=1, nproc=2)
    assert first.returncode == 0, first.stderr
    second = _train(tmp_path / "two", data, epochs=2, nproc=2)  # resumes at iteration 3
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("resumed from") == 1  # rank 0 alone logs
    assert second.stdout.count("trained 6 iterations") == 1

    a = tmp_path / "one" / "checkpoints" / "ckpt-00000006.safetensors"
    b = tmp_path / "two" / "checkpoints" / "ckpt-00000006.safetensors"
    meta_a, meta_b = (json.loads(p.with_suffix(".json").read_text()) for p in (a, b))
    assert (meta_a["world_size"], meta_b["world_size"]) == (1, 2)
    assert meta_a["config"] == meta_b["config"]  # the same global batch: the config does not change
    la, lb = _losses(a), _losses(b)
    assert [h["iteration"] for h in la] == [h["iteration"] for h in lb] == [3, 6]
    for ha, hb in zip(la, lb, strict=True):
        assert ha.keys() == hb.keys()
        for key in ha:
            assert hb[key] == pytest.approx(ha[key], rel=1e-4, abs=1e-6), key
    (ga, da), (gb, db) = _outputs(a), _outputs(b)
    assert (ga - gb).abs().max().item() <= 1 / 255
    torch.testing.assert_close(db, da, rtol=1e-3, atol=1e-4)
    # and the comparison can fail: one more epoch apart is far outside the tolerance
    g3, _ = _outputs(tmp_path / "one" / "checkpoints" / "ckpt-00000003.safetensors")
    assert (ga - g3).abs().max().item() > 10 / 255

    c = load_checkpoint(tmp_path / "straight" / "checkpoints" / "ckpt-00000006.safetensors").tensors
    resumed = load_checkpoint(b).tensors
    assert c.keys() == resumed.keys()
    assert all(torch.equal(c[k], resumed[k]) for k in c)

    refused = _train(tmp_path / "two", data, epochs=3, nproc=1)
    assert refused.returncode == 2
    assert "trained by 2 process(es), this run has 1" in refused.stderr
    assert not (tmp_path / "two" / "checkpoints" / "ckpt-00000009.safetensors").exists()


def test_a_single_process_world_passes_everything_through():
    assert world_from_env("cpu", {}) is SINGLE
    x = torch.arange(6.0)
    assert SINGLE.take(x) is x and SINGLE.local_batch(5) == 5
    assert torch.equal(SINGLE.spread(x, lambda t: t * 2), x * 2)
    assert SINGLE.mean({"a": 1.5}) == {"a": 1.5}


def test_rows_of_a_global_batch_without_a_process_group():
    world = World(rank=1, size=3, local_rank=1)
    x = torch.arange(6.0)
    assert torch.equal(world.take(x), torch.tensor([2.0, 3.0]))
    assert torch.equal(world.draw(lambda n: torch.arange(float(n)), 2), torch.tensor([2.0, 3.0]))
    # a per-row function sees this rank's rows where they sit in the global batch, and gradients reach them
    local = torch.tensor([1.0, 2.0], requires_grad=True)
    out = world.spread(local, lambda t: t * torch.arange(1.0, 7.0))
    assert torch.equal(out.detach(), torch.tensor([3.0, 8.0]))
    out.sum().backward()
    assert torch.equal(local.grad, torch.tensor([3.0, 4.0]))
    with pytest.raises(DataError, match="multiple of 3"):
        world.local_batch(4)
