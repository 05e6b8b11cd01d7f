"""``export_checkpoint``: a training checkpoint -> a checked, self-describing ONNX file, written
atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from medsynth._primitives import atomic_write_bytes
from medsynth._session import create_session
from medsynth.errors import ModelError, OutputError
from medsynth.export.card import DEFAULT_LICENSE, build_card
from medsynth.export.network import load_generator
from medsynth.export.onnx_export import IR_VERSION, OPSET, export_onnx, store_weights_fp16
from medsynth.export.parity import BATCH_SIZES, FP16_TOLERANCE, FP32_TOLERANCE, ParityResult, check_parity
from medsynth.model_card import ModelCard, card_from_session, stamp_card
from medsynth.training.checkpoint import load_checkpoint

EXPORTER = "torch.onnx dynamo"


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_checkpoint` wrote and measured."""

    path: Path  # the ONNX file
    checkpoint: Path  # the .safetensors file that was exported
    card: ModelCard  # the card stamped into the file
    parity: ParityResult  # onnxruntime vs torch, per batch size
    weights: str  # "G_ema" or "G"
    fp16: bool  # weights stored as float16
    size_bytes: int  # file size
    sha256: str  # hex sha256 of the file
    seconds: float  # wall time of the whole export
    notes: tuple[str, ...]  # things the user should know (dropped path-like config values, intensity choice)


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    name: str | None = None,
    fp16: bool = False,
    metrics: Mapping[str, Any] | None = None,
    description: str | None = None,
    license: str = DEFAULT_LICENSE,
    modality: str | None = None,
    intensity: Mapping[str, Any] | None = None,
    weights: str = "auto",
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    parity_seed: int | None = None,
    log: Callable[[str], None] | None = None,
) -> ExportReport:
    """Export a training checkpoint to a self-describing ONNX generator and verify it.

    The generator (EMA weights when the checkpoint has them) gets standing batch-norm statistics, is
    exported with inputs ``z``/``label`` and output ``image`` (dynamic batch, opset 17, IR version 10),
    stamped with its model card, checked with ``onnx.checker`` and for training-only ops, and run with
    onnxruntime against torch on fresh random inputs. The file appears at ``out`` only when every check
    passed.

    Parameters
    ----------
    checkpoint
        A ``ckpt-*.safetensors`` file with its ``.json`` beside it, or a run folder (its latest checkpoint).
    out
        The ONNX file to write (replaced if it exists); its folder is created if needed.
    name
        Model name in the card; default: the stem of ``out``.
    fp16
        Store the weights as float16 (half the file size; compute and I/O stay float32). The parity bound is
        then :data:`~medsynth.export.parity.FP16_TOLERANCE` instead of 1e-4.
    metrics
        Measured metrics for the card (JSON-serialisable).
    description
        One line for the card; default: architecture, size and data set.
    license
        Licence of the weights.
    modality
        DICOM modality of the training images (e.g. ``XC`` for dermoscopy, ``CT``); default: see
        :func:`~medsynth.export.card.default_modality`.
    intensity
        The card's intensity mapping; default: the training config's window, or ``{"kind": "display"}``.
    weights
        ``"auto"``, ``"ema"`` or ``"raw"`` (see :func:`~medsynth.export.network.load_generator`).
    batch_sizes
        Batch sizes of the parity check.
    parity_seed
        Seed of the parity inputs; ``None`` draws fresh ones.
    log
        Called with a line before each slow step (the command line prints them to stderr).

    Returns
    -------
    ExportReport
        The file, its card, the parity errors, size and sha256.

    Raises
    ------
    DataError
        The checkpoint is missing, lacks its JSON, is not a medsynth checkpoint, is corrupted, or does not fit
        its architecture; or the card cannot be built (e.g. a bad modality or window).
    ModelError
        torch cannot export the network, the graph breaks the contract, or parity fails.
    OutputError
        ``out`` is a folder or cannot be written.
    """
    start = time.monotonic()
    say = log or (lambda _: None)
    out = Path(out)
    if out.is_dir():
        raise OutputError(f"--out {out} is a folder; give the path of the .onnx file to write")
    ckpt = load_checkpoint(Path(checkpoint))
    say(f"{ckpt.path}: rebuilding the generator, measuring its batch-norm statistics")
    gen = load_generator(ckpt, weights=weights)
    cfg = gen.config
    say(f"exporting the {cfg.arch} generator ({gen.weights}) with torch.onnx (dynamo)")
    model = export_onnx(gen.net, cfg.latent_dim, len(gen.classes))
    if fp16:
        store_weights_fp16(model)
    export_info = {
        "exporter": EXPORTER,
        "opset": OPSET,
        "ir_version": IR_VERSION,
        "weights": gen.weights,
        "weights_dtype": "float16" if fp16 else "float32",
        "torch_version": torch.__version__,
    }
    card, notes = build_card(
        ckpt.meta,
        name=name or out.stem,
        description=description,
        license=license,
        modality=modality,
        intensity=intensity,
        metrics=metrics,
        export_info=export_info,
    )
    stamp_card(model, card)
    data = model.SerializeToString()

    # the bytes are checked in a scratch copy, then published at `out` in one atomic write
    with tempfile.TemporaryDirectory(prefix="medsynth-export-") as scratch:
        check = Path(scratch) / out.name
        check.write_bytes(data)
        session = create_session(check, device="cpu", threads=1).session
        read_back = card_from_session(session, source=str(out))
        if read_back.to_json() != card.to_json():
            raise ModelError(f"{out}: the card read back from the file differs from the one written")
        del session
        say(f"checking onnxruntime against torch at batch sizes {', '.join(map(str, batch_sizes))}")
        parity = check_parity(
            gen.net,
            check,
            latent_dim=cfg.latent_dim,
            num_classes=len(gen.classes),
            tolerance=FP16_TOLERANCE if fp16 else FP32_TOLERANCE,
            batch_sizes=batch_sizes,
            seed=parity_seed,
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, data)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}; choose another --out") from exc
    return ExportReport(
        path=out,
        checkpoint=ckpt.path,
        card=card,
        parity=parity,
        weights=gen.weights,
        fp16=fp16,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        seconds=time.monotonic() - start,
        notes=tuple(notes),
    )
