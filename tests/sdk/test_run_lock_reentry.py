"""The run lock is re-entrant within one context: write_run inside a held lock works and keeps it held;
another thread is still refused."""

from __future__ import annotations

import threading

from medsynth import Generator
from medsynth.errors import OutputError
from medsynth.writers._lock import LOCK_FILE, run_lock
from medsynth.writers.run import write_run


def _other_thread_refused(out) -> bool:
    result: list[bool] = []

    def attempt() -> None:
        try:
            with run_lock(out):
                result.append(False)
        except OutputError:
            result.append(True)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(timeout=60)
    return result == [True]


def test_write_run_inside_a_held_lock_keeps_it_held(tmp_path, tiny_model):
    out = tmp_path / "run"
    gen = Generator.load(tiny_model, device="cpu")
    with run_lock(out) as outer:
        with run_lock(out) as inner:
            assert inner is outer
        assert (out / LOCK_FILE).exists()  # the inner exit released nothing
        write_run(gen, {"nevus": 2}, out, seed=1)
        assert (out / LOCK_FILE).exists() and _other_thread_refused(out)
    assert not (out / LOCK_FILE).exists()
    with run_lock(out):  # released: a new holder gets it
        pass
    assert sorted(p.name for p in (out / "nevus").iterdir()) == ["nevus_000000.png", "nevus_000001.png"]

