"""Fixtures for the export tests: 2-step training runs and their exports, made once per session."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

# Without the train extra (torch, onnx, onnxscript) there is nothing to export: skip this folder's tests.
HAVE_TRAIN_EXTRA = all(importlib.util.find_spec(m) is not None for m in ("torch", "onnx", "onnxscript"))
collect_ignore_glob = [] if HAVE_TRAIN_EXTRA else ["test_*.py"]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``trained(variant)``: the 2-step run of a variant (helpers.export.variants), made once per session."""
    from helpers.export import Trained, train, variant_id

    cache: dict[str, Trained] = {}

    def get(variant: tuple[str, dict[str, Any]]) -> Trained:
        key = variant_id(variant)
        if key not in cache:
            arch, options = variant
            cache[key] = train(tmp_path_factory.mktemp(f"run-{key}"), arch, **options)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def exported(trained: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``exported(variant)``: (Trained, ExportReport) of the default fp32 export, made once per session."""
    from helpers.export import variant_id

    from medsynth.export import export_checkpoint

    cache: dict[str, Any] = {}

    def get(variant: tuple[str, dict[str, Any]]) -> Any:
        key = variant_id(variant)
        if key not in cache:
            run = trained(variant)
            out = tmp_path_factory.mktemp(f"onnx-{key}") / f"{key}.onnx"
            cache[key] = run, export_checkpoint(run.checkpoint, out, metrics={"fd_pixels": 1.25})
        return cache[key]

    return get
