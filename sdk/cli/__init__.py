"""The ``medsynth`` command line: one click group whose commands are imported only when they run.

``medsynth --help`` lists every command without importing any of them (so it never imports torch). A user
error (:class:`medsynth.errors.MedsynthError`) becomes one line on stderr and exit code 2; ``--debug`` shows
the traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from medsynth._version import __version__
from medsynth.errors import MedsynthError, MissingExtraError

# name -> (module, attribute, one-line help). Data, not import side effects: adding a command is one line
# here.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "generate": ("medsynth.cli.generate", "generate", "Generate labeled synthetic images from a model."),
    "info": ("medsynth.cli.info", "info", "Print the model card of an ONNX generator."),
    "models": ("medsynth.cli.models", "models", "List the models bundled with medsynth."),
    "convert": ("medsynth.cli.convert", "convert", "Convert a DICOM folder to windowed PNG images."),
    "evaluate": ("medsynth.cli.evaluate", "evaluate", "Score synthetic images against real ones."),
    "send": ("medsynth.cli.send", "send", "Send a folder of synthetic DICOM files to a PACS."),
    "train": ("medsynth.training.cli", "train", "Train a class-conditional GAN (needs medsynth[train])."),
    "export": (
        "medsynth.export.cli",
        "export",
        "Export a training checkpoint to ONNX (needs medsynth[train]).",
    ),
    "utility": (
        "medsynth.training.downstream.cli",
        "utility",
        "Does synthetic data help a classifier? (needs medsynth[train])",
    ),
}

# The extra that provides each top-level third-party module a command may need.
_EXTRA_FOR_MODULE = {
    "torch": "train",
    "onnx": "train",
    "onnxscript": "train",
    "safetensors": "train",
    "yaml": "train",
    "matplotlib": "train",
    "pynetdicom": "pacs",
}


def _load_command(name: str) -> click.Command:
    module_name, attr, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top in _EXTRA_FOR_MODULE:
            extra = _EXTRA_FOR_MODULE[top]
            raise MissingExtraError(
                f"'medsynth {name}' needs {top}, which is not installed: pip install \"medsynth[{extra}]\""
            ) from exc
        raise
    command = getattr(module, attr)
    assert isinstance(command, click.Command)
    return command


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        try:
            return _load_command(cmd_name)
        except MissingExtraError as exc:
            return _unavailable(cmd_name, str(exc))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MedsynthError as exc:
            if ctx.find_root().params.get("debug"):
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)


def _unavailable(name: str, message: str) -> click.Command:
    @click.command(
        name=name,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def stub() -> None:
        click.echo(f"Error: {message}", err=True)
        sys.exit(2)

    return stub


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medsynth")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
def main(debug: bool) -> None:
    """medsynth: balanced, labeled synthetic medical images from class-conditional GANs."""
