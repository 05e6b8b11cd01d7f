"""Optional dependencies: import one, or say which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from medsynth.errors import MissingExtraError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` naming ``pip install "medsynth[extra]"``.

    ``purpose`` completes the sentence "<purpose> needs <module>", e.g. "generation on Ray".
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module.split(".")[0]:
            raise  # the module is there but one of its own imports is broken: show that
        raise MissingExtraError(
            f'{purpose} needs {module}, which is not installed: pip install "medsynth[{extra}]"'
        ) from exc
