"""``medsynth train``: train a class-conditional GAN from the command line.

Every :class:`~medsynth.training.config.TrainConfig` field is a flag (``image_size`` -> ``--image-size``,
booleans as ``--balanced/--no-balanced``, ``extra`` as repeated ``--extra KEY=VALUE``); the help of each flag
is the field's comment in ``config.py``. A value is taken from, in rising order: the field's default, the
architecture's presets (its paper's optimiser settings, see :mod:`medsynth.training.nets`), the checkpoint
being resumed, the ``--config`` YAML file, the flags.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from medsynth.errors import ArgumentError, OutputError
from medsynth.training.checkpoint import Checkpoint, check_resumable, list_checkpoints, load_checkpoint
from medsynth.training.config import TrainConfig, read_yaml
from medsynth.training.data import load_image_set
from medsynth.training.distributed import World, shutdown, world_from_env
from medsynth.training.loop import RunResult, Trainer
from medsynth.training.nets import arch_names, get_arch
from medsynth.training.nets.factory import check_config

__all__ = ["train", "resolve_config"]

_TYPES: dict[str, Any] = {"str": click.STRING, "int": click.INT, "float": click.FLOAT}


def _field_help() -> dict[str, str]:
    """Each field's trailing comment in the source of :class:`TrainConfig`."""
    source = inspect.getsource(TrainConfig)
    return dict(re.findall(r"^\s+(\w+): [^#\n]*#\s*(.+)$", source, re.MULTILINE))


def _config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add one option per TrainConfig field (default None: "not given") to ``command``."""
    helps = _field_help()
    for f in reversed(dataclasses.fields(TrainConfig)):
        flag, help_ = "--" + f.name.replace("_", "-"), helps.get(f.name, "")
        if f.name == "arch":  # the registry's names, never a copy of them
            help_ = f"{help_}: {' | '.join(arch_names())}"
        kind = str(f.type)
        if kind == "bool":
            option = click.option(f"{flag}/--no-{flag[2:]}", f.name, default=None, help=help_)
        elif kind.startswith("dict"):
            option = click.option(flag, f.name, multiple=True, metavar="KEY=VALUE", help=help_)
        else:
            option = click.option(flag, f.name, type=_TYPES[kind], default=None, help=help_)
        command = option(command)
    return command


def resolve_config(
    flags: dict[str, Any], config_path: Path | None, resumed: dict[str, Any] | None
) -> TrainConfig:
    """The run's config from the flags given (None = not given), the YAML file and a resumed checkpoint's.

    Parameters
    ----------
    flags
        Field name -> value from the command line; None where the flag was not given.
    config_path
        The ``--config`` YAML file, if any.
    resumed
        The config of the checkpoint being resumed, if any; architecture presets are not applied over it.

    Raises
    ------
    ArgumentError
        The YAML file is unreadable, has an unknown key or a value of the wrong type; an ``--extra`` is not
        ``KEY=VALUE``; a value is out of range.
    """
    given = {k: v for k, v in flags.items() if v is not None and v != ()}
    if "extra" in given:
        pairs = [item.partition("=") for item in given["extra"]]
        bad = [key for key, sep, _ in pairs if not sep or not key]
        if bad:
            raise ArgumentError(f"--extra takes KEY=VALUE, got {given['extra']}")
        given["extra"] = {key: value for key, _, value in pairs}
    from_file = read_yaml(config_path) if config_path is not None else {}
    TrainConfig.from_dict(from_file, source=str(config_path))  # check keys and types before merging
    if resumed is not None:
        base = dict(resumed)
    else:
        arch = given.get("arch") or from_file.get("arch") or TrainConfig.arch
        base = dict(get_arch(str(arch)).presets)
    source = str(config_path or "the command line")
    return TrainConfig.from_dict({**base, **from_file, **given}, source=source)


@click.command(name="train")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder: checkpoints/ (.safetensors + .json), samples/, curves.png, progress.gif.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML file of config keys (the flag names with underscores); flags override it.",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue from the newest checkpoint in --out (its config is the base; changing anything "
    "but the run length and output settings is refused).",
)
@_config_options
def train(out: Path, config_path: Path | None, resume: bool, **flags: Any) -> None:
    """Train a class-conditional GAN on --data into --out.

    Data: an ISIC folder (labels.csv or the official ground-truth CSV) or CSV, a folder of class folders of
    images or of DICOM files, or a MedMNIST .npz.

    Data-parallel: torchrun --standalone --nproc-per-node N -m medsynth train ... (--batch-size is the
    global batch; rank 0 writes the run folder).
    """
    found = list_checkpoints(out / "checkpoints")
    if found and not resume:
        raise OutputError(
            f"{out} holds checkpoints of an earlier run ({found[-1].name}); pass --resume to "
            "continue it or choose a new --out"
        )
    ckpt = load_checkpoint(found[-1]) if found else None  # read once: its config here, its state in resume
    config = resolve_config(flags, config_path, ckpt.meta.config.to_dict() if ckpt else None)
    check_config(config)
    if not config.data:
        raise ArgumentError("no data set: pass --data PATH (or 'data:' in the --config file)")

    world = world_from_env(config.device)
    try:
        if ckpt is not None:
            check_resumable(ckpt.meta, config, ckpt.path, world.size)
        _train(config, out, ckpt, world)
    finally:
        shutdown(world)


def _train(config: TrainConfig, out: Path, ckpt: Checkpoint | None, world: World) -> None:
    def echo(message: str) -> None:
        if world.is_main:
            click.echo(message, err=True)

    if not world.is_main:
        world.barrier()  # rank 0 reads the data first and fills the cache; the others then read the cache
    data = load_image_set(
        config.data,
        image_size=config.image_size,
        channels=config.channels,
        split=config.split,
        window=config.window,
        progress=echo,
    )
    val = None
    if config.val_split:
        val = load_image_set(
            config.data,
            image_size=config.image_size,
            channels=config.channels,
            split=config.val_split,
            window=config.window,
            progress=echo,
        )
    if world.is_main:
        world.barrier()
    counts = ", ".join(f"{name} {n}" for name, n in data.counts().items())
    echo(
        f"data: {data.name}: {len(data.images)} images ({counts})"
        + (f"; {len(data.skipped)} unreadable skipped" if data.skipped else "")
        + (f"; validation against {len(val.images)} images of split {config.val_split}" if val else "")
    )
    trainer = Trainer(config, data, out, val=val, log=echo, world=world)
    if ckpt is not None:
        trainer.resume(ckpt)
    result = trainer.fit()
    if world.is_main:
        _summary(result)


def _summary(result: RunResult) -> None:
    """Print where everything went."""
    out = result.out_dir
    grids = sorted((out / "samples").glob("epoch-*.png"))
    click.echo(
        f"trained {result.iterations} iterations ({result.epochs_done:.2f} epochs) in "
        f"{result.wall_time_s / 60:.1f} min; stopped: {result.stopped_because}"
    )
    meta = result.checkpoint.with_suffix(".json").name
    click.echo(f"checkpoint   {result.checkpoint} (with {meta} beside it)")
    if grids:
        click.echo(
            f"samples      {out / 'samples'}/ ({len(grids)} grids, {grids[0].name} .. "
            f"{grids[-1].name}; one row per class)"
        )
    for name, what in (
        ("curves.png", "D(x), D(G(z)) and losses per epoch"),
        ("progress.gif", "the sample grids in order"),
    ):
        if (out / name).is_file():
            click.echo(f"{name.split('.')[0]:<12} {out / name} ({what})")
    click.echo(f"export with  medsynth export {result.checkpoint} --out model.onnx")
