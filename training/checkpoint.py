"""Checkpoints as safetensors (every tensor: weights, optimiser moments, RNG state) plus a JSON file beside
it (config, progress, history, data provenance). Nothing is pickled, so a checkpoint from an untrusted source
can be opened safely."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from medsynth._primitives import atomic_write_bytes
from medsynth.errors import DataError

FORMAT = "medsynth-checkpoint"
VERSION = 1
_NAME = re.compile(r"^ckpt-(\d{8})\.safetensors$")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read from disk: ``tensors`` by prefixed name and the ``meta`` JSON document."""

    path: Path
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors under ``prefix.`` with the prefix removed (a module's state_dict)."""
        p = prefix + "."
        return {k[len(p):]: v for k, v in self.tensors.items() if k.startswith(p)}


def checkpoint_name(iteration: int) -> str:
    return f"ckpt-{iteration:08d}.safetensors"


def save_checkpoint(folder: Path, iteration: int, modules: dict[str, nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer], rng: torch.Generator, meta: dict[str, Any],
                    keep: int = 0) -> Path:
    """Write ``ckpt-<iteration>.safetensors`` and its ``.json`` atomically; keep the newest ``keep``
    (0 = all)."""
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
    doc = dict(meta, format=FORMAT, version=VERSION, iteration=iteration, optimizers=opt_meta)
    path = folder / checkpoint_name(iteration)
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


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint pair; DataError naming the file when either half is unreadable or not ours."""
    path = resolve_checkpoint(path)
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {path.with_suffix('.json')}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{path.with_suffix('.json')} is not a medsynth checkpoint description")
    if meta.get("version") != VERSION:
        raise DataError(f"{path}: checkpoint version {meta.get('version')} is not supported "
                        f"(expected {VERSION})")
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
    opt.load_state_dict({"state": state, "param_groups": ckpt.meta["optimizers"][name]["param_groups"]})
