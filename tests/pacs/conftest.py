"""Fixtures for the PACS tests: a real Orthanc, and DICOM run folders of the tiny generator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.orthanc import Orthanc, missing_reason

from medsynth import Generator
from medsynth.writers.run import write_run


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """A running Orthanc for the tests of one module; skipped with a reason where it is not installed."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = Orthanc(tmp_path_factory.mktemp("orthanc"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dcm_run(tmp_path: Path, tiny_model: Path) -> Callable[..., Path]:
    """``dcm_run(seed, **plan)`` writes a ``--format dcm`` run folder of the tiny model and returns it."""

    def make(seed: int = 0, **plan: int) -> Path:
        out = tmp_path / f"run-{seed}"
        write_run(
            Generator.load(tiny_model, device="cpu"),
            plan or {"nevus": 3, "melanoma": 2},
            out,
            fmt="dcm",
            seed=seed,
        )
        return out

    return make
