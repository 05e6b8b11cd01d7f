"""The model card: the ``medsynth`` metadata JSON that makes an ONNX generator self-describing.

A conforming ONNX generator has inputs ``z`` float32 ``[N, latent_dim]`` and ``label`` int64 ``[N]``,
output ``image`` float32 ``[N, C, H, W]`` in ``[-1, 1]``, and one ``metadata_props`` entry with key
``"medsynth"`` whose value is a JSON document read here into a frozen :class:`ModelCard`. The writer side
(:func:`stamp_card`) lives next to the reader so that export and tests use the same code.

This module imports neither onnx nor onnxruntime at import time.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol

from medsynth._primitives import PHOTOMETRIC
from medsynth.errors import ModelError, UnknownClassError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import onnx
    import onnxruntime

__all__ = [
    "METADATA_KEY",
    "SCHEMA_VERSION",
    "ModelCard",
    "read_card",
    "card_from_session",
    "stamp_card",
    "check_card_against_graph",
]

METADATA_KEY = "medsynth"
SCHEMA_VERSION = 1

_INTENSITY_KINDS = ("display", "window")
_REQUIRED = (
    "schema_version",
    "name",
    "arch",
    "classes",
    "latent_dim",
    "image_size",
    "channels",
    "photometric",
    "modality",
    "intensity",
    "license",
    "intended_use",
    "medsynth_version",
)
_OPTIONAL = ("description", "resize_policy", "provenance", "metrics")
MAX_POLICY_NAME = 64  # characters of a resize policy name

# Bounds on what a card may claim, checked before anything is allocated from it.
MAX_CARD_BYTES = 1 << 20  # the JSON document
MAX_CARD_DEPTH = 32  # nesting of objects and arrays
MAX_CLASSES = 10_000
MAX_CLASS_NAME = 64  # characters (a DICOM LO value holds 64)
MAX_LATENT_DIM = 1 << 16
MAX_IMAGE_SIZE = 4096
# Names a class may not take: the files of the run folder layout, and the device names Windows reserves.
_LAYOUT_NAMES = {"manifest.csv", "images.npz", "metrics.json", "report.html"}
_WINDOWS_DEVICES = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}
_UNSAFE_CHARS = set('/\\:*?"<>|')


def _freeze(value: Any) -> Any:
    """Return a read-only deep copy of a JSON value (dict -> MappingProxyType, list -> tuple)."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """Inverse of :func:`_freeze`: plain dicts and lists that :mod:`json` can write."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def shorten_list(shown: Sequence[str], total: int, *, more: str) -> str:
    """``shown`` joined with commas, then ``and N more (more)`` when ``total`` exceeds them: messages stay one
    short line however many items there are."""
    text = ", ".join(str(item)[:80] for item in shown)
    return f"{text} and {total - len(shown)} more ({more})" if total > len(shown) else text


@dataclass(frozen=True)
class ModelCard:
    """What a medsynth ONNX generator says about itself (schema version 1).

    Mapping fields are read-only views; build a changed card with :meth:`replace`.
    """

    schema_version: int  # always SCHEMA_VERSION; other versions are refused
    name: str  # short model name, e.g. "isic2017-64"
    arch: str  # architecture, free string ("sngan", "dcgan", ...)
    classes: tuple[str, ...]  # ordered class names: the label value is the index
    latent_dim: int  # length of the z vector
    image_size: int  # H == W of the output image
    channels: int  # 1 (MONOCHROME2) or 3 (RGB)
    photometric: str  # "RGB" or "MONOCHROME2"
    modality: str  # DICOM modality of the source images (XC, CT, MR, CR, DX, US, OT, ...)
    intensity: Mapping[str, Any]  # {"kind": "display"} or {"kind": "window", "center", "width", "units"}
    license: str  # licence of the model weights
    intended_use: str  # e.g. "Synthetic research data; not for diagnosis."
    medsynth_version: str  # medsynth version that wrote the card
    description: str = ""  # one line
    # how real images were resized for training (medsynth.imageset.resize, e.g. "center-crop+lanczos");
    # "" in cards written before the field existed, and then left out of the JSON
    resize_policy: str = ""
    provenance: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # training provenance
    metrics: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # measured metrics
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # unknown keys, kept as is

    def __post_init__(self) -> None:
        for name in ("intensity", "provenance", "metrics", "extra"):
            object.__setattr__(self, name, _freeze(getattr(self, name)))
        object.__setattr__(self, "classes", tuple(self.classes))
        _validate({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, source="ModelCard")

    def __hash__(self) -> int:
        return hash(self.to_json())

    # -- JSON --------------------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, text: str, *, source: str) -> ModelCard:
        """Parse and validate the ``medsynth`` metadata JSON.

        Parameters
        ----------
        text
            The JSON document stored under :data:`METADATA_KEY`.
        source
            Where the text came from (a file name); every error message names it.

        Returns
        -------
        ModelCard
            The validated card. Keys this version does not know are kept in :attr:`extra`.

        Raises
        ------
        ModelError
            Invalid JSON, an unknown ``schema_version``, a missing required key, or a field of the wrong
            type or value.
        """
        if isinstance(text, str) and len(text) > MAX_CARD_BYTES:
            raise ModelError(
                f"{source}: the '{METADATA_KEY}' metadata is {len(text)} characters, more than "
                f"a model card may hold ({MAX_CARD_BYTES})"
            )
        _check_depth(text, source=source)
        try:
            doc = json.loads(text)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ModelError(f"{source}: the '{METADATA_KEY}' metadata is not valid JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise ModelError(
                f"{source}: the '{METADATA_KEY}' metadata must be a JSON object, got {type(doc).__name__}"
            )
        version = doc.get("schema_version")
        if "schema_version" in doc and (type(version) is not int or version != SCHEMA_VERSION):
            raise ModelError(
                f"{source}: unsupported model card schema_version {version!r}; this medsynth "
                f"reads version {SCHEMA_VERSION}. Upgrade medsynth or re-export the model."
            )
        missing = [key for key in _REQUIRED if key not in doc]
        if missing:
            raise ModelError(f"{source}: the model card lacks required field(s) {', '.join(missing)}")
        known = {key: doc[key] for key in (*_REQUIRED, *_OPTIONAL) if key in doc}
        extra = {key: value for key, value in doc.items() if key not in known}
        classes = known.pop("classes")
        if not isinstance(classes, list):
            raise ModelError(f"{source}: model card field 'classes' must be a list of names, got {classes!r}")
        for key, default in (("provenance", {}), ("metrics", {}), ("intensity", None)):
            if key in known and not isinstance(known[key], dict):
                raise ModelError(
                    f"{source}: model card field '{key}' must be a JSON object, got {known[key]!r}"
                )
            if default is not None:
                known.setdefault(key, default)
        values = {**known, "classes": tuple(classes), "extra": extra}
        _validate(values, source=source)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the card as a plain JSON-ready dict (unknown keys of the source included)."""
        doc = {f.name: _thaw(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "extra"}
        if not self.resize_policy:
            del doc["resize_policy"]  # an older card stays byte for byte what it was
        doc.update(_thaw(self.extra))
        return doc

    def to_json(self) -> str:
        """Return the card as JSON with sorted keys, the same bytes for the same card."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    # -- helpers -----------------------------------------------------------------------------------------
    def class_index(self, cls: str | int) -> int:
        """Return the label value of a class given by name or index.

        Parameters
        ----------
        cls
            A class name from :attr:`classes`, or its index.

        Returns
        -------
        int
            The index into :attr:`classes`.

        Raises
        ------
        UnknownClassError
            The name or index is not one of the model's classes; the message lists them.
        """
        if isinstance(cls, bool) or not isinstance(cls, (str, int)):
            raise UnknownClassError(
                f"class must be a name or an index, got {repr(cls)[:80]}; {self._class_list()}"
            )
        if isinstance(cls, str):
            if cls in self.classes:
                return self.classes.index(cls)
            shown = repr(cls) if len(cls) <= 80 else f"{cls[:80]!r}..."
            raise UnknownClassError(f"model '{self.name}' has no class {shown}; {self._class_list()}")
        if 0 <= cls < len(self.classes):
            return int(cls)
        shown = str(cls) if len(str(cls)) <= 30 else f"{str(cls)[:30]}..."
        raise UnknownClassError(f"model '{self.name}' has no class index {shown}; {self._class_list()}")

    def _class_list(self) -> str:
        return f"its classes are {self.classes_text()}"

    def classes_text(self, limit: int = 20) -> str:
        """The classes as ``0=name, 1=name, ...`` for a message: the first ``limit``, then how many more
        and where to see them all (``medsynth info MODEL`` lists every class)."""
        return shorten_list(
            [f"{i}={name}" for i, name in enumerate(self.classes[:limit])],
            len(self.classes),
            more="medsynth info MODEL lists them all",
        )

    def replace(self, **changes: Any) -> ModelCard:
        """Return a copy with some fields changed (validated like a new card)."""
        return dataclasses.replace(self, **changes)


def _check_depth(text: object, *, source: str) -> None:
    """Refuse JSON nested deeper than :data:`MAX_CARD_DEPTH` (counted outside strings), before parsing."""
    if not isinstance(text, str):
        return
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_CARD_DEPTH:
                raise ModelError(
                    f"{source}: the '{METADATA_KEY}' metadata nests deeper than "
                    f"{MAX_CARD_DEPTH} levels; a model card is a shallow JSON object"
                )
        elif ch in "]}":
            depth -= 1


def _check_class_names(names: Sequence[Any], *, source: str) -> None:
    """Class names become folder and file names of the output: each must be one safe, portable name."""
    if len(names) > MAX_CLASSES:
        raise ModelError(f"{source}: the model card lists {len(names)} classes, more than {MAX_CLASSES}")
    folded: dict[str, str] = {}
    for name in names:
        shown = repr(name) if len(repr(name)) <= 80 else f"{repr(name)[:80]}..."
        if not isinstance(name, str) or not name.strip():
            raise ModelError(f"{source}: model card class name {shown} must be a non-empty string")
        why = ""
        if len(name) > MAX_CLASS_NAME:
            why = f"is longer than {MAX_CLASS_NAME} characters"
        elif not name.isprintable():
            why = "has a character that is not printable (a newline, tab or control character)"
        elif any(ch in _UNSAFE_CHARS for ch in name) or "\0" in name:
            why = 'has a path separator or a character Windows forbids in file names (/ \\ : * ? " < > |)'
        elif name.startswith(".") or name in (".", ".."):
            why = "starts with a dot (hidden or special folder name)"
        elif name != name.strip() or name.endswith("."):
            why = "begins or ends with a blank, or ends with a dot"
        elif name.casefold() in _LAYOUT_NAMES or name.split(".")[0].casefold() in _WINDOWS_DEVICES:
            why = "is a reserved file name"
        if why:
            raise ModelError(
                f"{source}: model card class name {shown} {why}; class names become folder and "
                "file names of the output and must be safe as one"
            )
        key = name.casefold()
        if key in folded and folded[key] != name:
            raise ModelError(
                f"{source}: model card class names {folded[key]!r} and {name!r} differ only in "
                "case; they would share one folder on case-insensitive file systems"
            )
        folded[key] = name


def _validate(values: Mapping[str, Any], *, source: str) -> None:
    """Check the field values of a card; raise ModelError naming ``source`` and the field."""
    card = SimpleNamespace(
        **{"description": "", "resize_policy": "", "provenance": {}, "metrics": {}, "extra": {}, **values}
    )

    def bad(name: str, want: str) -> ModelError:
        got = _thaw(getattr(card, name))
        return ModelError(f"{source}: model card field '{name}' must be {want}, got {got!r}")

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not is_int(card.schema_version) or card.schema_version != SCHEMA_VERSION:
        raise ModelError(
            f"{source}: unsupported model card schema_version {card.schema_version!r}; this "
            f"medsynth reads version {SCHEMA_VERSION}. Upgrade medsynth or re-export the model."
        )
    for name in ("name", "arch", "modality", "license", "intended_use", "medsynth_version"):
        value = getattr(card, name)
        if not isinstance(value, str) or not value.strip():
            raise bad(name, "a non-empty string")
    if not isinstance(card.description, str):
        raise bad("description", "a string")
    policy = card.resize_policy
    if not isinstance(policy, str) or len(policy) > MAX_POLICY_NAME or not policy.isprintable():
        raise bad("resize_policy", f"a printable name of up to {MAX_POLICY_NAME} characters")
    if not isinstance(card.classes, (list, tuple)) or not card.classes:
        raise bad("classes", "a non-empty list of class names")
    if len(set(card.classes)) != len(card.classes):
        raise bad("classes", "a list of distinct names")
    _check_class_names(card.classes, source=source)
    for name, top in (("latent_dim", MAX_LATENT_DIM), ("image_size", MAX_IMAGE_SIZE)):
        if not is_int(getattr(card, name)) or not 0 < getattr(card, name) <= top:
            raise bad(name, f"a positive integer up to {top}")
    if not is_int(card.channels) or card.channels not in PHOTOMETRIC:
        raise bad("channels", "1 or 3")
    if card.photometric != PHOTOMETRIC[card.channels]:
        want = PHOTOMETRIC[card.channels]
        raise bad("photometric", f"{want!r} for {card.channels} channel(s)")
    _validate_intensity(card, source=source)
    for name in ("provenance", "metrics", "extra"):
        if not isinstance(getattr(card, name), Mapping):
            raise bad(name, "a JSON object")


def _validate_intensity(card: SimpleNamespace, *, source: str) -> None:
    intensity = card.intensity
    if not isinstance(intensity, Mapping) or intensity.get("kind") not in _INTENSITY_KINDS:
        raise ModelError(
            f"{source}: model card field 'intensity' must be an object with 'kind' one of "
            f"{', '.join(_INTENSITY_KINDS)}, got {_thaw(intensity)!r}"
        )
    if intensity["kind"] == "window":
        for key in ("center", "width"):
            value = intensity.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ModelError(
                    f"{source}: model card intensity window needs a finite number '{key}', got {value!r}"
                )
        if intensity["width"] <= 0:
            raise ModelError(
                f"{source}: model card intensity window 'width' must be > 0, got {intensity['width']!r}"
            )
        if "units" in intensity and not isinstance(intensity["units"], str):
            raise ModelError(
                f"{source}: model card intensity 'units' must be a string, got {intensity['units']!r}"
            )


# -- reading from and writing to model files -----------------------------------------------------------
def card_from_session(session: onnxruntime.InferenceSession, *, source: str) -> ModelCard:
    """Read and validate the card of an already-created onnxruntime session.

    Parameters
    ----------
    session
        An ``onnxruntime.InferenceSession`` of the model.
    source
        The model's file name, used in error messages.

    Returns
    -------
    ModelCard
        The validated card; its declared shapes are checked against the graph too.

    Raises
    ------
    ModelError
        No ``medsynth`` metadata, an invalid card, or a card that disagrees with the graph.
    """
    try:  # onnxruntime decodes names, shapes and metadata as UTF-8 only when asked for them
        metadata = session.get_modelmeta().custom_metadata_map
        inputs, outputs = session.get_inputs(), session.get_outputs()
        for arg in (*inputs, *outputs):
            arg.name, arg.shape, arg.type  # noqa: B018 - decode now, inside the try
    except UnicodeDecodeError as exc:
        raise ModelError(
            f"{source}: the ONNX metadata or graph names are not valid UTF-8 ({exc.reason} at "
            f"byte {exc.start}); the file is damaged, re-export or re-download it"
        ) from exc
    if METADATA_KEY not in metadata:
        raise ModelError(
            f"{source}: no '{METADATA_KEY}' model card in the ONNX metadata; this is not a "
            "medsynth generator. Export it with 'medsynth export' or stamp a card with "
            "medsynth.model_card.stamp_card"
        )
    card = ModelCard.from_json(metadata[METADATA_KEY], source=source)
    check_card_against_graph(card, inputs, outputs, source=source)
    return card


def read_card(path: str | Path) -> ModelCard:
    """Read and validate the model card of an ONNX file (opens a CPU session to do it).

    Parameters
    ----------
    path
        The ONNX file.

    Returns
    -------
    ModelCard
        The validated card.

    Raises
    ------
    ModelError
        Missing, unreadable or non-ONNX file, no card, invalid card, or a card that disagrees with the graph.
    """
    from medsynth._session import create_session

    session = create_session(Path(path), device="cpu", threads=1).session
    return card_from_session(session, source=str(path))


def stamp_card(model: onnx.ModelProto, card: ModelCard) -> None:
    """Write ``card`` into ``model.metadata_props`` under :data:`METADATA_KEY`, replacing an older card.

    Parameters
    ----------
    model
        An ``onnx.ModelProto``; changed in place.
    card
        The card to store.
    """
    entries = [entry for entry in model.metadata_props if entry.key != METADATA_KEY]
    del model.metadata_props[:]
    for entry in entries:
        model.metadata_props.add(key=entry.key, value=entry.value)
    model.metadata_props.add(key=METADATA_KEY, value=card.to_json())


class _ValueInfo(Protocol):
    """What :func:`check_card_against_graph` needs of an input/output (onnxruntime's ``NodeArg`` has it)."""

    @property
    def name(self) -> str: ...

    @property
    def shape(self) -> Sequence[int | str | None]: ...

    @property
    def type(self) -> str: ...


def check_card_against_graph(
    card: ModelCard, inputs: Sequence[_ValueInfo], outputs: Sequence[_ValueInfo], *, source: str
) -> None:
    """Refuse a graph whose inputs/outputs break the contract or disagree with the card.

    Parameters
    ----------
    card
        The model's card.
    inputs, outputs
        The graph's inputs and outputs as onnxruntime reports them (``name``, ``shape``, ``type``);
        symbolic or unknown dimensions are accepted, static ones must match the card.
    source
        The model's file name, used in error messages.

    Raises
    ------
    ModelError
        A missing ``z``/``label``/``image``, a wrong element type or rank, or a static dimension that differs
        from the card.
    """
    by_name_in = {arg.name: arg for arg in inputs}
    by_name_out = {arg.name: arg for arg in outputs}
    size = card.image_size
    expected = (
        ("input", by_name_in, "z", "tensor(float)", (None, card.latent_dim)),
        ("input", by_name_in, "label", "tensor(int64)", (None,)),
        ("output", by_name_out, "image", "tensor(float)", (None, card.channels, size, size)),
    )
    for kind, args, name, dtype, dims in expected:
        if name not in args:
            have = ", ".join(sorted(args))
            raise ModelError(
                f"{source}: the graph has no {kind} named '{name}' (it has {have}); "
                "a medsynth generator takes z and label and returns image"
            )
        arg = args[name]
        if arg.type != dtype:
            raise ModelError(f"{source}: {kind} '{name}' is {arg.type}, the contract needs {dtype}")
        shape = list(arg.shape)
        if len(shape) != len(dims):
            raise ModelError(
                f"{source}: {kind} '{name}' has shape {shape}, the contract needs rank {len(dims)}"
            )
        for axis, (got, want) in enumerate(zip(shape, dims, strict=True)):
            if want is not None and isinstance(got, int) and got != want:
                raise ModelError(
                    f"{source}: {kind} '{name}' has dimension {axis} = {got} but the model card "
                    f"says {want} (shape {shape}); the card and the graph disagree"
                )
    extra_inputs = sorted(set(by_name_in) - {"z", "label"})
    if extra_inputs:
        raise ModelError(
            f"{source}: the graph has extra input(s) {', '.join(extra_inputs)}; a medsynth "
            "generator takes only z and label"
        )
