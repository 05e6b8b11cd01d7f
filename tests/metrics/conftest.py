"""Fixtures of the metric tests: piq as the oracle (helpers in :mod:`helpers.metrics`)."""

from __future__ import annotations

import pytest
from helpers.metrics import import_piq


@pytest.fixture(scope="session")
def piq():
    """piq 0.8, imported with an empty ``torchvision`` module in sys.modules.

    piq imports torchvision at package import (for its feature extractors), and torchvision does not import
    beside the torch CPU wheel here; the pure-tensor metrics used as oracles never touch it.
    """
    pytest.importorskip("torch")
    try:
        piq_module = import_piq()
    except ImportError as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"piq is not importable: {exc}")
    return piq_module
