"""Fixtures for the training tests (helpers in helpers/training.py): a private cache folder per test and a
small validation sample so that every test stays a matter of seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the training tests need torch (pip install 'medsynth[train]')")


@pytest.fixture(autouse=True)
def _small_and_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import medsynth.training.loop as loop

    monkeypatch.setenv("MEDSYNTH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(loop, "VALIDATION_SAMPLES", 32)
