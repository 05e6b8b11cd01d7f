"""Shared fixtures: the tiny ONNX generators of :mod:`helpers.models` written to files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers.models import HIDDEN, build_model, make_card, reference_images, tiny_weights

from medsynth.model_card import ModelCard

ModelFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def onnx_models() -> SimpleNamespace:
    """The builders above, for tests: ``make_card``, ``tiny_weights``, ``build_model``, ``reference_images``.

    (They are importable too, from :mod:`helpers.models`.)
    """
    return SimpleNamespace(
        make_card=make_card,
        tiny_weights=tiny_weights,
        build_model=build_model,
        reference_images=reference_images,
        hidden=HIDDEN,
    )


@pytest.fixture(scope="session")
def model_factory(tmp_path_factory: pytest.TempPathFactory) -> ModelFactory:
    """Return ``make(name="m", card=None, **build_model_kwargs) -> Path`` writing a tiny generator file."""
    folder = tmp_path_factory.mktemp("models")

    def make(name: str = "model", card: ModelCard | None = None, **kwargs: Any) -> Path:
        import onnx

        path = folder / f"{name}.onnx"
        onnx.save(build_model(card or make_card(), **kwargs), path)
        return path

    return make


@pytest.fixture(scope="session")
def tiny_model(model_factory: ModelFactory) -> Path:
    """A valid 3-class 8x8 RGB tiny generator file (do not modify it)."""
    return model_factory("tiny")


@pytest.fixture(scope="session")
def grey_model(model_factory: ModelFactory) -> Path:
    """A valid 2-class 8x8 MONOCHROME2 tiny generator file trained, nominally, on a CT window."""
    card = make_card(
        name="tiny-grey",
        classes=("normal", "pneumonia"),
        channels=1,
        photometric="MONOCHROME2",
        modality="CT",
        intensity={"kind": "window", "center": 40, "width": 400, "units": "HU"},
    )
    return model_factory("grey", card=card)


@pytest.fixture(scope="session")
def nan_model(model_factory: ModelFactory) -> Path:
    """A tiny generator whose output is all NaN."""
    return model_factory("nan", nan=True)
