"""Generation on Ray: the same files and manifest as one process, through the Python API on a local
``ray.init(num_cpus=2)`` and through ``medsynth generate --ray host:port`` against a cluster that the test
starts with ``ray start --head --block`` and ends by its process id; a re-run resumes a broken run."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason='the Ray tests need ray (pip install "medsynth[ray]")')

from medsynth import Generator  # noqa: E402
from medsynth.errors import ArgumentError  # noqa: E402
from medsynth.ray_run import write_run_on_ray  # noqa: E402
from medsynth.writers.run import write_run  # noqa: E402

PLAN = {"melanoma": 7, "nevus": 5}


def tree(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder``, hidden ones included."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80_000_000, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def gen(tiny_model):
    return Generator.load(tiny_model, device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_python_api_matches_one_process_byte_for_byte(tmp_path, gen, tiny_model, local_ray, fmt):
    write_run(gen, PLAN, tmp_path / "one", fmt=fmt, seed=3, batch_size=4)
    steps: list[tuple[int, int]] = []
    summary = write_run_on_ray(tiny_model, PLAN, tmp_path / "ray", fmt=fmt, seed=3, batch_size=3,
                               workers=2, progress=lambda done, total: steps.append((done, total)))
    assert tree(tmp_path / "ray") == tree(tmp_path / "one")  # every file and the manifest
    assert summary.total == 12 and summary.written == 12 and summary.skipped == 0
    assert steps[-1] == (12, 12) and steps == sorted(steps)


@pytest.mark.slow
def test_a_broken_run_resumes_to_the_same_bytes(tmp_path, gen, tiny_model, local_ray):
    write_run(gen, PLAN, tmp_path / "one", seed=1)
    out = tmp_path / "ray"
    write_run_on_ray(tiny_model, PLAN, out, seed=1, batch_size=2, workers=2)
    # what a worker killed midway leaves: some files missing, a temp file, no manifest yet
    for name in ("melanoma/melanoma_000003.png", "nevus/nevus_000000.png", "manifest.csv"):
        (out / name).unlink()
    (out / "nevus" / ".nevus_000004.png.123-0-abcd.medsynth-tmp").write_bytes(b"partial")
    summary = write_run_on_ray(tiny_model, PLAN, out, seed=1, batch_size=2, workers=2)
    assert summary.written == 2 and summary.skipped == 10
    assert tree(out) == tree(tmp_path / "one")


def test_bad_arguments_are_refused_before_ray_starts(tmp_path, tiny_model):
    with pytest.raises(ArgumentError, match="workers"):
        write_run_on_ray(tiny_model, PLAN, tmp_path / "x", workers=0)
    assert not (tmp_path / "x").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_no_cluster_at_the_address_is_one_error_line_and_writes_nothing(tmp_path, tiny_model):
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    result = subprocess.run([sys.executable, "-m", "medsynth", "generate", "--model", str(tiny_model),
                             "--class", "nevus", "--n", "3", "--out", str(tmp_path / "x"), "--ray",
                             f"127.0.0.1:{_free_port()}"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("Error: ")] == [
        line for line in result.stderr.splitlines() if "cannot connect to the Ray cluster" in line]
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_cli_on_a_cluster_started_with_ray_start(tmp_path, gen, tiny_model):
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        pytest.skip(f"no ray command beside {sys.executable}")
    port = _free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    log = (tmp_path / "head.log").open("w")
    # Ray 2.60 enables token authentication by default; this cluster listens on 127.0.0.1 for this test only
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    head = subprocess.Popen(
        [str(ray_bin), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--num-cpus", "2", "--include-dashboard", "false", "--object-store-memory", "80000000",
         "--temp-dir", str(temp), "--min-worker-port", str(port + 1), "--max-worker-port", str(port + 200)],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        write_run(gen, {"melanoma": 6, "nevus": 6}, tmp_path / "one", fmt="png", seed=2)
        command = [sys.executable, "-m", "medsynth", "generate", "--model", str(tiny_model), "--class",
                   "melanoma", "--class", "nevus", "--n", "6", "--seed", "2", "--out",
                   str(tmp_path / "ray"), "--ray", f"127.0.0.1:{port}", "--workers", "2", "--quiet"]
        deadline = time.monotonic() + 600
        while True:  # the head takes a while to come up on a loaded machine
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
            if result.returncode == 0 or time.monotonic() > deadline or head.poll() is not None:
                break
            time.sleep(5)
        assert result.returncode == 0, result.stderr + (tmp_path / "head.log").read_text()
        assert "12 images (nevus 6, melanoma 6)" in result.stdout
        assert tree(tmp_path / "ray") == tree(tmp_path / "one")
    finally:
        if head.poll() is None:
            os.killpg(head.pid, signal.SIGTERM)  # ends the head and the raylet, GCS and workers it started
            try:
                head.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
                head.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
