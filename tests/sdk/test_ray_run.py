"""Generation on Ray: the same files, manifest and journal handling as one process, through the Python API
on a local ``ray.init(num_cpus=2)`` and through ``medsynth generate --ray host:port`` against a cluster that
the test starts with ``ray start --head --block`` and ends by its process id; a killed or damaged run
resumes from what it had verifiably finished, and a complete one is left alone.

Every Ray server here listens on 127.0.0.1 only, and the tests check it. Ray replaces a ``--node-ip-address``
of 127.0.0.1 by the machine's own address, and then its servers listen on every interface, unless Ray's
multi-machine mode is off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, its default on Windows and macOS).
Every wait is bounded, so that a cluster that does not come up fails the test instead of hanging it.
"""

from __future__ import annotations

import gc
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
from helpers.files import tree

ray = pytest.importorskip("ray", reason='the Ray tests need ray (pip install "medsynth[ray]")')

from medsynth import Generator  # noqa: E402
from medsynth.errors import ArgumentError  # noqa: E402
from medsynth.ray_run import write_run_on_ray  # noqa: E402
from medsynth.writers._journal import JOURNAL_FILE, read_journal  # noqa: E402
from medsynth.writers.run import write_run  # noqa: E402

PLAN = {"melanoma": 7, "nevus": 5}
ITEM_TIMEOUT_S = 240  # one batch of tiny images, including an actor's start on a loaded machine
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # one-machine mode: every server on 127.0.0.1 (see above)
    "RAY_USAGE_STATS_ENABLED": "0",
}


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (inode, mtime in ns) of every file: what a rewrite would change."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# /proc/net/tcp{,6} local addresses (hex, as the kernel writes them) of 127.0.0.1, ::1 and ::ffff:127.0.0.1
_LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}


def listening_off_loopback(root: int) -> list[str]:
    """Listening TCP sockets of process ``root`` and its descendants that are not on the loopback
    interface, as ``hex-address:hex-port`` (read from /proc; Linux only)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    family = {root}
    while True:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        if not more:
            break
        family |= more
    sockets = set()
    for pid in family:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                sockets.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            address, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and f"socket:[{inode}]" in sockets and address.split(":")[0] not in _LOOPBACK:
                found.append(address)
    return found


def _end_what_a_failed_init_started() -> None:
    """End the Ray processes that a failed ``ray.init`` started from this process (it leaves them)."""
    for process in gc.get_objects():
        if (
            isinstance(process, subprocess.Popen)
            and process.returncode is None
            and "ray" in str(process.args)
        ):
            process.kill()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def local_ray():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in RAY_ENV.items():
            patch.setenv(name, value)  # for the processes Ray starts
        patch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)  # read when ray was imported
        try:
            ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80_000_000, log_to_driver=False)
        except Exception as exc:  # Ray gives its raylet 30 s to register, which a loaded machine may miss
            _end_what_a_failed_init_started()
            pytest.fail(f"the local Ray cluster did not start: {exc}")
        try:
            assert ray.util.get_node_ip_address() == "127.0.0.1"
            yield
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def gen(tiny_model):
    return Generator.load(tiny_model, device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_python_api_matches_one_process_byte_for_byte(tmp_path, gen, tiny_model, local_ray, fmt):
    write_run(gen, PLAN, tmp_path / "one", fmt=fmt, seed=3, batch_size=4)
    steps: list[tuple[int, int]] = []
    summary = write_run_on_ray(
        tiny_model,
        PLAN,
        tmp_path / "ray",
        fmt=fmt,
        seed=3,
        batch_size=3,
        workers=2,
        progress=lambda done, total: steps.append((done, total)),
        item_timeout_s=ITEM_TIMEOUT_S,
    )
    # every file, the run file and the manifest with each file's size and sha256; no journal, no lock left
    assert tree(tmp_path / "ray") == tree(tmp_path / "one")
    assert summary.total == 12 and summary.written == 12 and summary.skipped == 0
    assert steps[-1] == (12, 12) and steps == sorted(steps)
    if Path("/proc/net/tcp").exists():
        assert listening_off_loopback(os.getpid()) == []  # this driver and the Ray processes it started


@pytest.mark.slow
def test_a_complete_run_is_verified_and_left_alone(tmp_path, tiny_model, local_ray):
    out = tmp_path / "ray"
    write_run_on_ray(tiny_model, PLAN, out, seed=4, batch_size=3, workers=2, item_timeout_s=ITEM_TIMEOUT_S)
    before, files = stamps(out), tree(out)
    steps: list[tuple[int, int]] = []
    summary = write_run_on_ray(
        tiny_model,
        PLAN,
        out,
        seed=4,
        batch_size=3,
        workers=2,
        progress=lambda done, total: steps.append((done, total)),
        item_timeout_s=ITEM_TIMEOUT_S,
    )
    assert summary.written == 0 and summary.skipped == 12 and steps == []
    images = {path: stamp for path, stamp in stamps(out).items() if path.endswith(".png")}
    assert len(images) == 12 and images == {path: before[path] for path in images}  # none rewritten
    assert tree(out) == files


class DriverKilled(Exception):
    """Stands for the driver dying midway (the journal is what a real kill leaves too)."""


@pytest.mark.slow
def test_a_run_killed_midway_resumes_from_its_journal(tmp_path, gen, tiny_model, local_ray):
    write_run(gen, PLAN, tmp_path / "one", seed=5)
    out = tmp_path / "ray"

    def die_after_the_first_batch(done: int, total: int) -> None:
        if done > 1:  # 1: the driver's first image; then one batch of 3 from an actor
            raise DriverKilled

    with pytest.raises(DriverKilled):
        write_run_on_ray(
            tiny_model,
            PLAN,
            out,
            seed=5,
            batch_size=3,
            workers=2,
            progress=die_after_the_first_batch,
            item_timeout_s=ITEM_TIMEOUT_S,
        )
    journaled = read_journal(out)
    assert len(journaled) == 3 and not (out / ".medsynth-run.lock").exists()
    steps: list[tuple[int, int]] = []
    summary = write_run_on_ray(
        tiny_model,
        PLAN,
        out,
        seed=5,
        batch_size=3,
        workers=2,
        progress=lambda done, total: steps.append((done, total)),
        item_timeout_s=ITEM_TIMEOUT_S,
    )
    # the first image (in the manifest) and the 3 journaled ones are verified and kept; files that actors
    # wrote after the last journal flush are not trusted and are made again
    assert summary.written == 12 - 1 - 3 and steps[-1] == (8, 8)
    assert tree(out) == tree(tmp_path / "one") and not (out / JOURNAL_FILE).exists()


@pytest.mark.slow
def test_missing_and_damaged_files_are_remade_to_the_same_bytes(tmp_path, gen, tiny_model, local_ray):
    write_run(gen, PLAN, tmp_path / "one", seed=1)
    out = tmp_path / "ray"
    write_run_on_ray(tiny_model, PLAN, out, seed=1, batch_size=2, workers=2, item_timeout_s=ITEM_TIMEOUT_S)
    for name in ("melanoma/melanoma_000003.png", "nevus/nevus_000000.png"):
        (out / name).unlink()
    damaged = out / "melanoma" / "melanoma_000006.png"
    damaged.write_bytes(damaged.read_bytes()[:-7])  # a truncated file: there, but not as recorded
    (out / "nevus" / ".nevus_000004.png.123-0-abcd.medsynth-tmp").write_bytes(b"partial")
    summary = write_run_on_ray(
        tiny_model, PLAN, out, seed=1, batch_size=2, workers=2, item_timeout_s=ITEM_TIMEOUT_S
    )
    assert summary.written == 3 and summary.skipped == 9
    assert tree(out) == tree(tmp_path / "one")


def test_bad_arguments_are_refused_before_ray_starts(tmp_path, tiny_model):
    for arguments, word in (
        ({"workers": 0}, "workers"),
        ({"item_timeout_s": 0}, "item_timeout_s"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
    ):
        with pytest.raises(ArgumentError, match=word):
            write_run_on_ray(tiny_model, PLAN, tmp_path / "x", **arguments)
    with pytest.raises(ArgumentError, match="number of images"):
        write_run_on_ray(tiny_model, {"nevus": -1}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_no_cluster_at_the_address_is_one_error_line_and_writes_nothing(tmp_path, tiny_model):
    env = dict(os.environ, **RAY_ENV, RAY_AUTH_MODE="disabled")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "medsynth",
            "generate",
            "--model",
            str(tiny_model),
            "--class",
            "nevus",
            "--n",
            "3",
            "--out",
            str(tmp_path / "x"),
            "--ray",
            f"127.0.0.1:{_free_port()}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("Error: ")] == [
        line for line in result.stderr.splitlines() if "cannot connect to the Ray cluster" in line
    ]
    assert not (tmp_path / "x").exists()


def _end(head: subprocess.Popen[bytes]) -> None:
    """End the head and everything it started (its own process group), by its process id."""
    if head.poll() is not None:
        return
    os.killpg(head.pid, signal.SIGTERM)  # ray start --block ends the raylet, GCS and workers it started
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)


@pytest.mark.slow
def test_cli_on_a_cluster_started_with_ray_start(tmp_path, gen, tiny_model):
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        pytest.skip(f"no ray command beside {sys.executable}")
    port = _free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    log_path = tmp_path / "head.log"
    # Ray 2.60 enables token authentication by default; this cluster listens on 127.0.0.1 for this test only
    env = dict(os.environ, **RAY_ENV, RAY_AUTH_MODE="disabled")
    with log_path.open("w") as log:
        head = subprocess.Popen(
            [
                str(ray_bin),
                "start",
                "--head",
                "--block",
                "--node-ip-address",
                "127.0.0.1",
                "--port",
                str(port),
                "--num-cpus",
                "2",
                "--include-dashboard",
                "false",
                "--object-store-memory",
                "80000000",
                "--temp-dir",
                str(temp),
                "--min-worker-port",
                str(port + 1),
                "--max-worker-port",
                str(port + 200),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        write_run(gen, {"melanoma": 6, "nevus": 6}, tmp_path / "one", fmt="png", seed=2)
        command = [
            sys.executable,
            "-m",
            "medsynth",
            "generate",
            "--model",
            str(tiny_model),
            "--class",
            "melanoma",
            "--n",
            "6",
            "--class",
            "nevus",
            "--n",
            "6",
            "--seed",
            "2",
            "--out",
            str(tmp_path / "ray"),
            "--ray",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--quiet",
        ]
        deadline = time.monotonic() + 240
        while True:  # the head takes a while to come up on a loaded machine; retry only that
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
            waiting = result.returncode == 2 and "cannot connect to the Ray cluster" in result.stderr
            if not waiting or time.monotonic() > deadline or head.poll() is not None:
                break
            time.sleep(3)
        assert result.returncode == 0, result.stderr + log_path.read_text()
        assert "12 images (nevus 6, melanoma 6)" in result.stdout
        assert tree(tmp_path / "ray") == tree(tmp_path / "one")
        if Path("/proc/net/tcp").exists():
            assert listening_off_loopback(head.pid) == []
    finally:
        _end(head)
        shutil.rmtree(temp, ignore_errors=True)
