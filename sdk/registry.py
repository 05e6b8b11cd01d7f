"""The models bundled with medsynth, as data.

Each bundled model is one :class:`BundledModel` entry in :data:`BUNDLED`; its ONNX file lives in the package
folder ``medsynth/models/``. Adding a model is one line in :data:`BUNDLED` plus the file. Nothing is
registered by the side effect of an import, and the registry refuses duplicate names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from medsynth.errors import ModelError

__all__ = ["BundledModel", "Registry", "BUNDLED", "REGISTRY", "DEFAULT_MODEL", "models_dir"]

DEFAULT_MODEL = "isic2017-64"  # what `medsynth generate` and Generator.load use when no model is named

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BundledModel:
    """One model shipped inside the package."""

    name: str  # the name users pass to --model / Generator.load, e.g. "isic2017-64"
    file_name: str  # the ONNX file inside medsynth/models/
    description: str  # one line for `medsynth models`
    sha256: str  # hex sha256 of the file; a mismatch at load time means a damaged install

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.endswith(".onnx"):
            raise ValueError(f"bundled model name {self.name!r} must be a plain name, not a path")
        if not self.file_name.endswith(".onnx") or "/" in self.file_name:
            raise ValueError(f"bundled model file {self.file_name!r} must be an .onnx file name")
        if not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"bundled model {self.name!r}: sha256 must be 64 lowercase hex digits")


# The models shipped with this release. Rebuild the default one with examples/build_default_model.sh.
BUNDLED: tuple[BundledModel, ...] = (
    BundledModel(
        name="isic2017-64",
        file_name="isic2017-64.onnx",
        description="ISIC 2017 dermoscopy, 64x64 RGB: nevus, melanoma, seborrheic_keratosis "
        "(SNGAN, CPU-trained)",
        sha256="94c597a084b27e377efb748957b7054bf9011c71c6aca9f9c4e8aa157f456374",
    ),
    BundledModel(
        name="isic2017-128",
        file_name="isic2017-128.onnx",
        description="ISIC 2017 dermoscopy, 128x128 RGB: nevus, melanoma, seborrheic_keratosis "
        "(projected GAN with class guidance, CPU-trained; not the default: see the README)",
        sha256="9517dbf91ca5ab959b90a2d3ea12b9c9fd4865ab64518cec3f65a00999deec15",
    ),
)


def models_dir() -> Path:
    """Return the package folder that holds the bundled ONNX files."""
    return Path(__file__).resolve().parent / "models"


class Registry:
    """Bundled models by name; duplicates are refused.

    Parameters
    ----------
    entries
        The models, each with a distinct name.
    folder
        Where their files are (default: :func:`models_dir`).

    Raises
    ------
    ValueError
        Two entries share a name.
    """

    def __init__(self, entries: Iterable[BundledModel], folder: Path | None = None) -> None:
        self._entries: dict[str, BundledModel] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise ValueError(f"bundled model {entry.name!r} is registered twice")
            self._entries[entry.name] = entry
        self._folder = folder if folder is not None else models_dir()

    def __iter__(self) -> Iterator[BundledModel]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> BundledModel:
        """Return the entry called ``name``.

        Raises
        ------
        ModelError
            No bundled model has that name; the message lists the ones there are.
        """
        if name in self._entries:
            return self._entries[name]
        # Every command names its own model argument (generate --model, info MODEL), so the hint names none.
        how = (
            "give the path of a medsynth ONNX generator file instead (Python: Generator.load(PATH); "
            "medsynth models lists the bundled ones)"
        )
        if not self._entries and name == DEFAULT_MODEL:
            raise ModelError(
                f"no bundled model is installed yet (the default model {name!r} is not part of "
                f"this install); {how}"
            )
        known = ", ".join(sorted(self._entries)) or "none installed yet"
        raise ModelError(
            f"no model file and no bundled model named {name!r} (bundled models: {known}); {how}"
        )

    def path(self, entry: BundledModel) -> Path:
        """Return the installed file of ``entry``.

        Raises
        ------
        ModelError
            The file is missing from the install.
        """
        path = self._folder / entry.file_name
        if not path.is_file():
            raise ModelError(
                f"bundled model {entry.name!r} is registered but its file {path} is missing; "
                "reinstall medsynth"
            )
        return path


REGISTRY = Registry(BUNDLED)
