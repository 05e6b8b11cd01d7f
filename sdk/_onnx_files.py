"""The files an ONNX model consists of: the ``.onnx`` and the external-data files its tensors reference.

An ONNX tensor may keep its bytes in another file (``data_location = EXTERNAL`` with a ``location`` entry,
relative to the model's folder). onnxruntime has followed such paths outside the folder in some releases
(``../secret.txt`` loads on 1.18), so medsynth reads them itself, from the protobuf wire format (no onnx
package needed), and refuses any that leaves the model's folder before a session is created. The model's
identity (:func:`model_sha256`) covers the ``.onnx`` and every file it references, so a changed
``weights.bin`` is a different model.

Protobuf fields walked (onnx.proto): ModelProto.graph (7), .training_info (20), .functions (25);
GraphProto.node (1), .initializer (5), .sparse_initializer (15); NodeProto.attribute (5); AttributeProto.t
(5), .g (6), .tensors (10), .graphs (11), .sparse_tensor (22), .sparse_tensors (23); TensorProto
.external_data (13), .data_location (14); SparseTensorProto.values (1), .indices (2);
TrainingInfoProto.initialization (1), .algorithm (2); FunctionProto.node (7).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from medsynth.errors import ModelError

__all__ = ["ExternalFile", "ModelFiles", "model_files", "model_sha256", "file_sha256"]

_CHUNK = 1 << 20
_MAX_DEPTH = 64  # nested subgraphs (If/Loop bodies); deeper is a crafted file
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL

# message -> {field number: message kind} for the length-delimited fields that can hold tensors.
_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "function": {7: "node"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}


@dataclass(frozen=True)
class ExternalFile:
    """One external-data reference of a tensor."""

    location: str  # as written in the model, relative to its folder
    path: Path  # the resolved file, inside the model's folder
    offset: int  # where the tensor's bytes start
    length: int | None  # how many bytes it says it has (None: to the end of the file)


@dataclass(frozen=True)
class ModelFiles:
    """What :func:`model_files` found in an ONNX file."""

    path: Path  # the .onnx file
    ir_version: int | None  # ModelProto.ir_version (None when absent)
    external: tuple[ExternalFile, ...]  # every external-data reference, in file order

    @property
    def data_files(self) -> tuple[Path, ...]:
        """The distinct external-data files, sorted."""
        return tuple(sorted({ref.path for ref in self.external}))


class _Truncated(Exception):
    pass


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Truncated
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield (field number, wire type, value) of one message; length-delimited values as memoryviews."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 1:
            pos += 8
            if pos > len(data):
                raise _Truncated
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise _Truncated
            yield number, wire, data[pos : pos + size]
            pos += size
        elif wire == 5:
            pos += 4
            if pos > len(data):
                raise _Truncated
        else:  # groups (3, 4) are not used by onnx.proto; anything else is not protobuf
            raise _Truncated


def _tensor_reference(data: memoryview) -> dict[str, str] | None:
    """The external_data entries of a TensorProto whose data_location is EXTERNAL, else None."""
    entries: dict[str, str] = {}
    location = 0
    for number, wire, value in _fields(data):
        if number == 14 and wire == 0:
            assert isinstance(value, int)
            location = value
        elif number == 13 and wire == 2:
            assert isinstance(value, memoryview)
            key = text = ""
            for sub_number, sub_wire, sub_value in _fields(value):
                if sub_wire == 2 and sub_number in (1, 2):
                    assert isinstance(sub_value, memoryview)
                    decoded = bytes(sub_value).decode("utf-8", errors="replace")
                    key, text = (decoded, text) if sub_number == 1 else (key, decoded)
            entries[key] = text
    return entries if location == _EXTERNAL else None


def _walk(data: memoryview, kind: str, depth: int, found: list[dict[str, str]]) -> None:
    if depth > _MAX_DEPTH:
        raise ModelError("graph nesting deeper than 64 levels")
    if kind == "tensor":
        reference = _tensor_reference(data)
        if reference is not None:
            found.append(reference)
        return
    children = _CHILDREN[kind]
    for number, wire, value in _fields(data):
        if wire == 2 and number in children:
            assert isinstance(value, memoryview)
            _walk(value, children[number], depth + 1, found)


def _inside(folder: Path, location: str, source: Path) -> Path:
    """Resolve one location; refuse absolute paths, drive letters, ``..`` and links that leave ``folder``."""
    bad = (
        not location
        or "\0" in location
        or PurePosixPath(location).is_absolute()
        or PureWindowsPath(location).is_absolute()
        or PureWindowsPath(location).drive
        or ".." in PureWindowsPath(location).parts
    )
    resolved = (folder / location).resolve()
    if bad or not resolved.is_relative_to(folder.resolve()):
        raise ModelError(
            f"{source}: external data location {location!r} lies outside the model's folder "
            f"{folder}; a model's weight files must sit in its own folder"
        )
    return resolved


def _int_entry(entries: dict[str, str], key: str, source: Path) -> int | None:
    if key not in entries:
        return None
    text = entries[key]
    if not text.isdigit():
        raise ModelError(f"{source}: external data {key} {text!r} is not a non-negative integer")
    return int(text)


def model_files(path: Path) -> ModelFiles:
    """Read the ONNX file ``path`` and check its external-data references.

    Parameters
    ----------
    path
        The ``.onnx`` file.

    Returns
    -------
    ModelFiles
        Its IR version and external-data references, each resolved inside the model's folder.

    Raises
    ------
    ModelError
        The file is unreadable or not protobuf; a location is absolute, has ``..``, or resolves (through
        links too) outside the model's folder; a referenced file is missing, or shorter than the offset and
        length the model gives.
    """
    try:
        data = memoryview(path.read_bytes())
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    found: list[dict[str, str]] = []
    ir_version: int | None = None
    try:
        for number, wire, value in _fields(data):
            if number == 1 and wire == 0:
                assert isinstance(value, int)
                ir_version = value
            elif wire == 2 and number in _CHILDREN["model"]:
                assert isinstance(value, memoryview)
                _walk(value, _CHILDREN["model"][number], 1, found)
    except _Truncated:
        raise ModelError(
            f"{path} is not a model onnxruntime can load (its protobuf is truncated or "
            "corrupt); re-export or re-download it"
        ) from None
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    folder = path.parent
    external = []
    for entries in found:
        location = entries.get("location", "")
        target = _inside(folder, location, path)
        offset = _int_entry(entries, "offset", path) or 0
        length = _int_entry(entries, "length", path)
        if not target.is_file():
            raise ModelError(
                f"{path}: external data file {location!r} is missing from {folder}; copy the "
                "model together with its weight files"
            )
        if offset + (length or 0) > target.stat().st_size:
            raise ModelError(
                f"{path}: external data file {location!r} is shorter than the model says "
                f"(offset {offset} + length {length or 0} > {target.stat().st_size} bytes); "
                "the weight file is truncated"
            )
        external.append(ExternalFile(location=location, path=target, offset=offset, length=length))
    return ModelFiles(path=path, ir_version=ir_version, external=tuple(external))


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_sha256(files: ModelFiles) -> str:
    """Return the model's identity: the sha256 of the ``.onnx`` alone when it has no external data, else
    the sha256 of ``medsynth-model-files-v1`` and one ``<location relative to the folder>\\0<sha256>`` line
    per file (the ``.onnx`` first, then the data files sorted by name).

    Raises
    ------
    ModelError
        A file cannot be read.
    """
    try:
        own = file_sha256(files.path)
        if not files.external:
            return own
        folder = files.path.parent.resolve()
        lines = [f"{files.path.name}\0{own}"]
        lines += [f"{data.relative_to(folder).as_posix()}\0{file_sha256(data)}" for data in files.data_files]
    except OSError as exc:
        raise ModelError(f"cannot read the files of model {files.path}: {exc.strerror or exc}") from exc
    text = "\n".join(["medsynth-model-files-v1", *lines]) + "\n"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
