"""``medsynth export CHECKPOINT --out model.onnx``: a training checkpoint -> a verified ONNX generator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from medsynth.errors import DataError
from medsynth.export.card import DEFAULT_LICENSE, intensity_from_config
from medsynth.export.exporter import export_checkpoint
from medsynth.export.network import WEIGHTS

__all__ = ["export"]


def read_metrics(path: Path) -> dict[str, Any]:
    """Read a metrics JSON object for the card.

    Raises
    ------
    DataError
        The file is missing, not JSON, or not a JSON object.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read metrics {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise DataError(f"metrics {path} must hold a JSON object, got {type(doc).__name__}")
    return doc


@click.command(name="export")
@click.argument("checkpoint", metavar="CHECKPOINT")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="ONNX file to write (written only when every check passes).",
)
@click.option("--name", default=None, help="Model name in the card (default: the stem of --out).")
@click.option("--description", default=None, help="One-line description (default: arch, size and data set).")
@click.option(
    "--fp16", is_flag=True, help="Store the weights as float16 (half the size; compute stays float32)."
)
@click.option(
    "--metrics",
    "metrics_path",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON object of measured metrics to put in the card.",
)
@click.option(
    "--modality",
    default=None,
    help="DICOM modality of the training images: XC (dermoscopy/photos), CT, MR, CR, DX, US, OT... "
    "(default: XC for RGB photographs, else OT).",
)
@click.option(
    "--window",
    default=None,
    help="Intensity window the model was trained in, 'C,W' or a CT preset (default: the training "
    "config's window; none for photographs).",
)
@click.option(
    "--license", "license_", default=DEFAULT_LICENSE, show_default=True, help="Licence of the weights."
)
@click.option(
    "--weights",
    type=click.Choice(WEIGHTS),
    default="auto",
    show_default=True,
    help="Generator to export: auto (EMA when present), ema, or raw (the training generator).",
)
@click.option(
    "--seed",
    "parity_seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed of the parity inputs (default: fresh random inputs).",
)
def export(
    checkpoint: str,
    out: Path,
    name: str | None,
    description: str | None,
    fp16: bool,
    metrics_path: Path | None,
    modality: str | None,
    window: str | None,
    license_: str,
    weights: str,
    parity_seed: int | None,
) -> None:
    """Export CHECKPOINT (ckpt-*.safetensors with its .json, or a run folder: its latest checkpoint) to ONNX.

    The file has inputs z and label, output image, a dynamic batch axis, opset 17 and IR version 10, and the
    model card; it is checked with onnx.checker and against torch with onnxruntime before it is written.
    """
    metrics = read_metrics(metrics_path) if metrics_path is not None else None
    intensity = None
    if window is not None:
        intensity, _ = intensity_from_config(window, (modality or "").upper())
    report = export_checkpoint(
        checkpoint,
        out,
        name=name,
        description=description,
        fp16=fp16,
        metrics=metrics,
        license=license_,
        modality=modality,
        intensity=intensity,
        weights=weights,
        parity_seed=parity_seed,
        log=lambda line: click.echo(line, err=True),
    )
    card = report.card
    for note in report.notes:
        click.echo(f"note: {note}")
    for batch, error in report.parity.errors:
        click.echo(f"parity batch {batch:>3}: max abs error {error:.3g} (bound {report.parity.tolerance:g})")
    click.echo(
        f"wrote {report.path}: {card.name}, {card.arch} {card.image_size}x{card.image_size} "
        f"{card.photometric}, classes {', '.join(card.classes)}; weights {report.weights}"
        f"{' (float16)' if report.fp16 else ''}, {report.size_bytes / 1e6:.2f} MB, "
        f"sha256 {report.sha256}, {report.seconds:.1f} s"
    )
