"""A ``medsynth generate`` process killed with SIGKILL midway, then re-run, ends byte-identical to a run that
was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers.files import tree

CLI = "from medsynth.cli import main; main()"
N = 600


def command(model, out, fmt):
    return [
        sys.executable,
        "-c",
        CLI,
        "generate",
        "--model",
        str(model),
        "--class",
        "melanoma",
        "--n",
        str(N),
        "--out",
        str(out),
        "--format",
        fmt,
        "--seed",
        "11",
        "--batch-size",
        "1",
        "--threads",
        "1",
        "--quiet",
    ]


@pytest.fixture(scope="module")
def slow_model(model_factory, onnx_models):
    # 32x32 RGB at batch 1: slow enough per image that the run is still going when it is killed.
    return model_factory("slow", card=onnx_models.make_card(name="slow", latent_dim=128, image_size=32))


def _started(out, fmt):
    if fmt == "png":
        folder = out / "melanoma"
        return folder.is_dir() and sum(1 for _ in folder.glob("*.png")) >= 50
    temps = list(out.glob(".images.npz.*")) if out.is_dir() else []
    return any(t.stat().st_size > 200_000 for t in temps if t.exists())


@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_sigkill_midway_then_rerun_is_byte_identical(tmp_path, slow_model, fmt):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    process = subprocess.Popen(
        command(slow_model, killed, fmt), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not _started(killed, fmt):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run ended or stalled before it could be killed: {process.stderr.read()!r}")
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "manifest.csv").exists(), "the run finished before the kill"
    if fmt == "png":
        assert 50 <= len(list((killed / "melanoma").glob("*.png"))) < N
    else:
        assert not (killed / "images.npz").exists()

    for out in (killed, clean):
        finished = subprocess.run(command(slow_model, out, fmt), capture_output=True, text=True, check=False)
        assert finished.returncode == 0, finished.stderr
    assert tree(killed) == tree(clean)
    assert not [p for p in killed.rglob("*") if p.name.endswith(".medsynth-tmp")]
