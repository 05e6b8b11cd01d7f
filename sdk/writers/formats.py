"""Output formats by name, as data: ``--format`` name -> the module and class that write it.

Writer modules are imported only when their format is used, so ``import medsynth`` loads neither Pillow nor
pydicom. A format whose module is missing from the install gives a clear error, not a traceback.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from medsynth.errors import ArgumentError, MissingExtraError, OutputError
from medsynth.writers.base import ContainerWriter, FileWriter

__all__ = ["OutputFormat", "FORMATS", "load_writer"]


@dataclass(frozen=True)
class OutputFormat:
    """One output format."""

    name: str  # the --format value
    module: str  # module that defines the writer
    attr: str  # the writer class (a FileWriter or ContainerWriter subclass) in that module
    description: str  # one line for --help


FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat("png", "medsynth.writers.png", "PngWriter", "one PNG per image in <out>/<class>/"),
        OutputFormat(
            "npz", "medsynth.writers.npz", "NpzWriter", "one images.npz with images, labels, classes"
        ),
        OutputFormat(
            "dcm",
            "medsynth.writers.dicom",
            "DicomWriter",
            "one DICOM Secondary Capture per image in <out>/<class>/",
        ),
    )
}


def load_writer(name: str, *, png_compression: int | None = None) -> FileWriter | ContainerWriter:
    """Import and instantiate the writer of format ``name``.

    Parameters
    ----------
    name
        A key of :data:`FORMATS`.
    png_compression
        For ``png``: the zlib level 0-9 (``None``: the writer's default). Refused for other formats.

    Returns
    -------
    FileWriter or ContainerWriter
        A fresh writer.

    Raises
    ------
    OutputError
        Unknown format, or a format whose writer module is not part of this install.
    ArgumentError
        ``png_compression`` for a format other than ``png``, or a level outside 0-9.
    MissingExtraError
        The writer needs a third-party package that is not installed.
    """
    if name not in FORMATS:
        raise OutputError(f"unknown output format {name!r}; use one of {', '.join(FORMATS)}")
    if png_compression is not None and name != "png":
        raise ArgumentError(f"--png-compression is for --format png, not {name}")
    fmt = FORMATS[name]
    try:
        module = importlib.import_module(fmt.module)
    except ModuleNotFoundError as exc:
        if exc.name == fmt.module:
            raise OutputError(
                f"output format {name!r} is not available in this medsynth install (module "
                f"{fmt.module} is missing); use --format png or npz"
            ) from exc
        if exc.name is None or exc.name.split(".")[0] == "medsynth":
            raise
        raise MissingExtraError(
            f"output format {name!r} needs the package {exc.name!r}, which is not "
            f"installed: pip install {exc.name}"
        ) from exc
    writer = getattr(module, fmt.attr, None)
    if not (isinstance(writer, type) and issubclass(writer, (FileWriter, ContainerWriter))):
        raise OutputError(
            f"{fmt.module}.{fmt.attr} is not a medsynth writer class; output format {name!r} "
            "cannot be used with this install"
        )
    if png_compression is not None:
        return writer(compression=png_compression)  # type: ignore[call-arg]
    return writer()
