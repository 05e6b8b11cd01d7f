"""Checkpoints as safetensors (every tensor: weights, optimiser moments, RNG state) plus a JSON file beside
it, :class:`CheckpointMeta` (config, progress, history, data provenance). Nothing is pickled, so a checkpoint
from an untrusted source can be opened safely.

The JSON description is the contract between training and export: the trainer writes a
:class:`CheckpointMeta`, resume and export read one back, typed and checked, never by string keys.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from medsynth._primitives import atomic_write_bytes, is_integer
from medsynth.errors import ArgumentError, DataError
from medsynth.training.config import TrainConfig

FORMAT = "medsynth-checkpoint"
VERSION = 1
_NAME = re.compile(r"^ckpt-(\d{8})\.safetensors$")

_REQUIRED = ("config", "classes", "channels", "iteration")


@dataclass(frozen=True)
class CheckpointMeta:
    """The JSON half of a checkpoint: what was trained, on what, how far, and the state to resume it.

    The trainer writes it (:meth:`to_json`), resume and export read it (:meth:`from_json`). Version 1 is the
    only version so far; a description without a ``version`` key is read as version 1, a newer one is
    refused with a message saying to upgrade medsynth.
    """

    config: TrainConfig  # the run's config
    classes: tuple[str, ...]  # class names, in label order
    channels: int  # 1 or 3
    iteration: int  # generator steps done
    loss: str = ""  # the loss actually used (the config's, or the architecture's default)
    images_per_class: Mapping[str, int] = field(default_factory=dict)  # training images per class
    dataset: str = ""  # the data set's name (never a path)
    dataset_license: str = ""  # the data set's licence
    modality: str = ""  # DICOM modality of the training images ("" = unknown)
    resize_policy: str = ""  # how the images were resized (medsynth.imageset.resize; "" = not recorded)
    train_manifest_sha256: str = ""  # sha256 of the sorted "id,class" lines of the training set
    skipped_images: int = 0  # unreadable inputs left out
    history: tuple[Mapping[str, Any], ...] = ()  # one record per epoch (losses, scores, validation)
    rng_numpy: Mapping[str, Any] = field(default_factory=dict)  # the data sampler's bit-generator state
    wall_time_s: float = 0.0  # training wall time so far
    epochs_done: float = 0.0  # iterations / iterations per epoch
    medsynth_version: str = ""  # medsynth that wrote it
    torch_version: str = ""  # torch that trained it
    device: str = ""  # torch device it trained on
    world_size: int = 1  # processes that trained it (torchrun); resume needs the same number
    optimizers: Mapping[str, Any] = field(default_factory=dict)  # param_groups per optimiser (save fills it)

    @property
    def arch(self) -> str:
        return self.config.arch

    def to_json(self) -> dict[str, Any]:
        """The JSON document (with ``format``, ``version`` and, for older readers, ``arch``)."""
        doc: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        doc.update(
            config=self.config.to_dict(),
            classes=list(self.classes),
            history=list(self.history),
            format=FORMAT,
            version=VERSION,
            arch=self.config.arch,
        )
        for key in ("modality", "resize_policy"):
            if not doc[key]:
                del doc[key]
        return doc

    @classmethod
    def from_json(cls, doc: object, source: str) -> CheckpointMeta:
        """Read and check a checkpoint's JSON document.

        Raises
        ------
        DataError
            Not a medsynth checkpoint description, a version this medsynth does not read, a missing key or
            a value of the wrong type; the message names ``source``.
        """
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise DataError(f"{source} is not a medsynth checkpoint description")
        version = doc.get("version", 1)  # the first descriptions had no version key
        if version != VERSION:
            raise DataError(
                f"{source}: checkpoint version {version} is not supported (expected {VERSION}); "
                + (
                    "upgrade medsynth to read it"
                    if isinstance(version, int) and version > VERSION
                    else "it was not written by a medsynth trainer"
                )
            )
        missing = [key for key in _REQUIRED if key not in doc]
        if missing:
            raise DataError(
                f"{source} lacks {', '.join(missing)}; it was not written by the medsynth trainer"
            )
        if not isinstance(doc["config"], dict):
            raise DataError(f"{source}: 'config' must be a mapping, got {type(doc['config']).__name__}")
        try:
            config = TrainConfig.from_dict(doc["config"], source=source)
        except ArgumentError as exc:  # a bad config inside a file is a bad file
            raise DataError(str(exc)) from exc
        classes = doc["classes"]
        if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
            raise DataError(f"{source}: 'classes' must be a non-empty list of names, got {classes!r}")
        if doc["channels"] not in (1, 3) or isinstance(doc["channels"], bool):
            raise DataError(f"{source}: 'channels' must be 1 or 3, got {doc['channels']!r}")
        values: dict[str, Any] = {"config": config, "classes": tuple(classes)}
        for f in dataclasses.fields(cls):
            if f.name in values or f.name not in doc:
                continue
            value, kind = doc[f.name], _JSON_KINDS[f.name]
            if kind is float and is_integer(value):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise DataError(f"{source}: {f.name!r} must be {kind.__name__}, got {value!r}")
            if isinstance(value, list):  # the history (the one list): a tuple in the frozen record
                value = tuple(value)
            values[f.name] = value
        return cls(**values)


_JSON_KINDS: dict[str, type] = {
    "channels": int,
    "iteration": int,
    "loss": str,
    "images_per_class": dict,
    "dataset": str,
    "dataset_license": str,
    "modality": str,
    "resize_policy": str,
    "train_manifest_sha256": str,
    "skipped_images": int,
    "history": list,
    "rng_numpy": dict,
    "wall_time_s": float,
    "epochs_done": float,
    "medsynth_version": str,
    "torch_version": str,
    "device": str,
    "world_size": int,
    "optimizers": dict,
}


# what a resumed run may change: how long it runs and what it writes, never what it computes
MUTABLE_ON_RESUME = frozenset(
    {
        "epochs",
        "max_iterations",
        "max_minutes",
        "checkpoint_every",
        "keep_checkpoints",
        "sample_every",
        "early_stop_patience",
        "threads",
        "extra",
        "val_features",
    }
)


def check_resumable(meta: CheckpointMeta, config: TrainConfig, source: Path, world_size: int) -> None:
    """Refuse to continue the checkpoint ``source`` (described by ``meta``) under ``config`` in a run of
    ``world_size`` processes.

    Raises
    ------
    ArgumentError
        A field outside :data:`MUTABLE_ON_RESUME` differs (the message names the fields), or the number of
        processes differs.
    """
    old, new = meta.config.to_dict(), config.to_dict()
    diff = sorted(k for k, v in old.items() if k not in MUTABLE_ON_RESUME and new[k] != v)
    if diff:
        raise ArgumentError(f"cannot resume {source}: its config differs in {diff}; use a new --out folder")
    if meta.world_size != world_size:
        raise ArgumentError(
            f"cannot resume {source}: it was trained by {meta.world_size} process(es), this "
            f"run has {world_size}; resume with the same number of processes in all "
            "(torchrun --nnodes x --nproc-per-node) or use a new --out folder"
        )


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read from disk: ``tensors`` by prefixed name and its description."""

    path: Path
    tensors: dict[str, torch.Tensor]
    meta: CheckpointMeta

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors under ``prefix.`` with the prefix removed (a module's state_dict)."""
        p = prefix + "."
        return {k[len(p) :]: v for k, v in self.tensors.items() if k.startswith(p)}


def checkpoint_name(iteration: int) -> str:
    return f"ckpt-{iteration:08d}.safetensors"


def save_checkpoint(
    folder: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    rng: torch.Generator,
    meta: CheckpointMeta,
    keep: int = 0,
) -> Path:
    """Write ``ckpt-<meta.iteration>.safetensors`` and its ``.json`` atomically; keep the newest ``keep``
    (0 = all). The optimisers' param groups are stored in the description, their state in the tensors."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().cpu().contiguous().clone()
    opt_meta: dict[str, Any] = {}
    for name, opt in optimizers.items():
        state = opt.state_dict()
        opt_meta[name] = {"param_groups": state["param_groups"]}
        for idx, per in state["state"].items():
            for key, value in per.items():
                tensors[f"{name}.{idx}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous().clone()
    tensors["rng.torch"] = rng.get_state().clone()
    doc = dataclasses.replace(meta, optimizers=opt_meta).to_json()
    path = folder / checkpoint_name(meta.iteration)
    text = json.dumps(doc, indent=2, sort_keys=True, default=_json_default)
    atomic_write_bytes(path.with_suffix(".json"), text.encode())
    # the .safetensors appears last: its presence means the pair is complete
    atomic_write_bytes(path, save(tensors, metadata={"format": FORMAT}))
    if keep > 0:
        for old in list_checkpoints(folder)[:-keep]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name) and p.with_suffix(".json").is_file())


def resolve_checkpoint(path: str | Path) -> Path:
    """A ``.safetensors`` file, or a run folder (or its ``checkpoints/``) meaning its latest checkpoint."""
    path = Path(path)
    if path.is_dir():
        for folder in (path / "checkpoints", path):
            found = list_checkpoints(folder)
            if found:
                return found[-1]
        raise DataError(f"{path} holds no checkpoint (ckpt-*.safetensors with its .json beside it)")
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    if path.suffix != ".safetensors":
        raise DataError(f"{path} is not a .safetensors checkpoint")
    if not path.with_suffix(".json").is_file():
        raise DataError(f"{path} has no {path.with_suffix('.json').name} beside it; the pair is needed")
    return path


def load_meta(path: str | Path) -> CheckpointMeta:
    """The JSON half of a checkpoint (a ``.safetensors`` file or a run folder: its latest), without the
    tensors; DataError naming the file when it is unreadable or not ours."""
    source = resolve_checkpoint(path).with_suffix(".json")
    try:
        doc = json.loads(source.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {source}: {exc}") from exc
    return CheckpointMeta.from_json(doc, str(source))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint pair; DataError naming the file when either half is unreadable or not ours."""
    path = resolve_checkpoint(path)
    meta = load_meta(path)
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    return Checkpoint(path=path, tensors=tensors, meta=meta)


def restore_optimizer(opt: torch.optim.Optimizer, ckpt: Checkpoint, name: str) -> None:
    """Load ``name``'s optimiser state from ``ckpt`` into ``opt``."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in ckpt.state(name).items():
        idx, field = key.split(".", 1)
        state.setdefault(int(idx), {})[field] = value
    if name not in ckpt.meta.optimizers:
        raise DataError(f"{ckpt.path} holds no state of the optimiser {name!r}")
    opt.load_state_dict({"state": state, "param_groups": ckpt.meta.optimizers[name]["param_groups"]})
