"""Fixtures for the DICOM tests (helpers in helpers/dicom.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.dicom import write_dicom


@pytest.fixture
def make_dicom(tmp_path: Path) -> Callable[..., Path]:
    """``make_dicom(name, pixels, **attributes)`` writes ``tmp_path / name`` and returns its path."""

    def make(name: str, pixels: np.ndarray, **attributes: Any) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_dicom(path, pixels, **attributes)

    return make
