"""``medsynth info MODEL``: print the model card of an ONNX generator."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from medsynth.generator import Generator

__all__ = ["info"]


def _inline(value: Any) -> str:
    """A scalar as is, anything nested as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _intensity(intensity: Mapping[str, Any]) -> str:
    if intensity["kind"] == "window":
        units = f" {intensity['units']}" if "units" in intensity else ""
        return f"window center {intensity['center']} width {intensity['width']}{units}"
    return "display (pixel values as shown)"


@click.command(name="info")
@click.argument("model", metavar="MODEL")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON (sorted keys).")
def info(model: str, as_json: bool) -> None:
    """Print the model card of MODEL (an ONNX file or a bundled model name)."""
    gen = Generator.load(model, device="cpu", threads=1)
    card = gen.card
    if as_json:
        click.echo(json.dumps(card.to_dict(), sort_keys=True, indent=2, ensure_ascii=False))
        return
    rows = [
        ("name", card.name),
        ("description", card.description or "-"),
        ("file", str(gen.path)),
        ("sha256", gen.sha256),
        ("arch", card.arch),
        ("classes", ", ".join(f"{i}={name}" for i, name in enumerate(card.classes))),
        ("image", f"{card.image_size}x{card.image_size}, {card.channels} channel(s), {card.photometric}"),
        ("latent_dim", str(card.latent_dim)),
        ("modality", card.modality),
        ("intensity", _intensity(card.intensity)),
        ("license", card.license),
        ("intended use", card.intended_use),
        ("medsynth", card.medsynth_version),
    ]
    doc = card.to_dict()
    rows += [(f"provenance.{key}", _inline(value)) for key, value in doc["provenance"].items()]
    rows += [(f"metrics.{key}", _inline(value)) for key, value in doc["metrics"].items()]
    rows += [(key, _inline(doc[key])) for key in card.extra]
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        click.echo(f"{key.ljust(width)}  {value}")
