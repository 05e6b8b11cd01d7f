"""A run lock taken with reentrant=True is lent to the code it wraps: write_run inside it works and keeps it
held; another thread is still refused, and so is a nested run_lock of a lock taken without it."""

from __future__ import annotations

import threading

import pytest

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
    with run_lock(out, reentrant=True) as outer:
        with run_lock(out) as inner:
            assert inner is outer
        assert (out / LOCK_FILE).exists()  # the inner exit released nothing
        write_run(gen, {"nevus": 2}, out, seed=1)
        assert (out / LOCK_FILE).exists() and _other_thread_refused(out)
    assert not (out / LOCK_FILE).exists()
    with run_lock(out):  # released: a new holder gets it
        pass
    assert sorted(p.name for p in (out / "nevus").iterdir()) == ["nevus_000000.png", "nevus_000001.png"]


def test_a_lock_not_lent_refuses_a_nested_holder_even_inside_a_lent_one(tmp_path):
    lent, other = tmp_path / "lent", tmp_path / "other"
    with run_lock(lent, reentrant=True), run_lock(other):
        with pytest.raises(OutputError, match="in use"):
            with run_lock(other):
                pass
