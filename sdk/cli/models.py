"""``medsynth models``: list the models bundled with this install."""

from __future__ import annotations

import click

from medsynth.registry import DEFAULT_MODEL, REGISTRY

__all__ = ["models"]


@click.command(name="models")
def models() -> None:
    """List the bundled models (use a name with --model or Generator.load)."""
    if not len(REGISTRY):
        click.echo("No bundled model is installed yet. Use --model PATH with any medsynth ONNX generator.")
        return
    entries = list(REGISTRY)
    width = max(len(entry.name) for entry in entries)
    for entry in entries:
        mark = " (default)" if entry.name == DEFAULT_MODEL else ""
        click.echo(f"{entry.name.ljust(width)}  {entry.description}{mark}")
