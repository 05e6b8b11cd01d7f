"""``medsynth convert``: a DICOM folder to windowed 8-bit PNG images, by the standard.

Each file goes through :func:`medsynth.dicom.load`'s pipeline (modality LUT, VOI window, MONOCHROME1
inversion), so Hounsfield units keep their meaning, unlike min-max scaling. ``IN_DIR/a/b.dcm`` becomes
``OUT_DIR/a/b.png`` (``b_frame0003.png`` for frame 3 of a multi-frame file). Files that cannot be converted
are listed with the reason.

Every PNG written carries a ``medsynth:convert`` tEXt chunk. An existing file at an output path is replaced
only if it carries that chunk: a user's own ``scan.png`` is never overwritten (that input is skipped with the
reason). OUT_DIR must not be IN_DIR, nor lie inside it unless IN_DIR has a DICOMDIR (otherwise a re-run
would read its own outputs).
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import sys
from pathlib import Path

import click
import numpy as np

from medsynth._version import __version__
from medsynth.dicom import DEFAULT_LIMITS, Limits, list_files, parse_window
from medsynth.dicom.folder import iter_images
from medsynth.errors import ArgumentError, DataError, OutputError
from medsynth.writers._atomic import atomic_write_bytes

__all__ = ["convert"]

_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")
_MARK = "medsynth:convert"  # tEXt keyword of every PNG this command writes
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _limits(values: tuple[str, ...]) -> Limits:
    changes: dict[str, int] = {}
    names = [f.name for f in dataclasses.fields(DEFAULT_LIMITS)]
    for value in values:
        name, _, number = value.partition("=")
        if name not in names or not number.strip().isdigit():
            raise ArgumentError(
                f"--limit takes NAME=INTEGER with NAME one of {', '.join(names)}; got {value!r}"
            )
        changes[name] = int(number)
    return dataclasses.replace(DEFAULT_LIMITS, **changes)


def _outputs(out_dir: Path, relative: Path, frames: int) -> list[Path]:
    """Output paths of one file: its relative path, DICOM suffix dropped (UID-like names keep their dots)."""
    name = relative.name
    if name.lower().endswith(_DICOM_SUFFIXES):
        name = name[: name.rfind(".")]
    folder = out_dir / relative.parent
    if frames == 1:
        return [folder / f"{name}.png"]
    return [folder / f"{name}_frame{frame:04d}.png" for frame in range(frames)]


def _png(image: np.ndarray, source: str) -> bytes:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"medsynth {__version__}")
    info.add_text(_MARK, source)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=6, pnginfo=info)
    return buffer.getvalue()


def _written_by_convert(path: Path) -> bool:
    """Whether ``path`` is a regular file (not a link) that is a PNG with this command's tEXt mark."""
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as handle:
        if handle.read(8) != _PNG_SIGNATURE:
            return False
        for _ in range(64):  # the mark is written before the image data; look no further than that
            head = handle.read(8)
            if len(head) < 8:
                return False
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IDAT" or length > 1 << 20:
                return False
            body = handle.read(length)
            handle.seek(4, os.SEEK_CUR)  # CRC
            if kind == b"tEXt" and body.split(b"\0", 1)[0] == _MARK.encode("latin-1"):
                return True
    return False


def _check_dirs(in_dir: Path, out_dir: Path) -> None:
    """Refuse OUT_DIR == IN_DIR, and OUT_DIR inside IN_DIR where IN_DIR's files are found by walking it."""
    source, target = in_dir.resolve(), out_dir.resolve()
    if target == source:
        raise ArgumentError(f"OUT_DIR {out_dir} is IN_DIR; write the images to another folder")
    if target.is_relative_to(source) and not (in_dir / "DICOMDIR").is_file():
        raise ArgumentError(
            f"OUT_DIR {out_dir} lies inside IN_DIR {in_dir}, so a re-run would read the "
            "images it wrote; choose an OUT_DIR outside IN_DIR"
        )


@click.command(name="convert")
@click.argument("in_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--window",
    default="from-file",
    show_default=True,
    metavar="NAME|C,W",
    help="from-file (the file's VOI LUT or window), full (whole stored range), a CT preset (brain, "
    "subdural, stroke, lung, mediastinum, abdomen, liver, bone) or center,width "
    "(write --window=-600,1500 for a negative center).",
)
@click.option(
    "--size",
    type=click.IntRange(min=1),
    default=None,
    help="Pad each image to a square with black and resample it to SIZE x SIZE (default: keep the size).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["png"]),
    default="png",
    show_default=True,
    help="Output image format (8-bit grayscale or RGB).",
)
@click.option(
    "--limit",
    "limits",
    multiple=True,
    metavar="NAME=N",
    help="Raise a size limit checked before decoding, e.g. --limit max_frames=20000 "
    "(max_file_bytes, max_rows, max_columns, max_frames, max_decoded_bytes).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def convert(
    in_dir: Path, out_dir: Path, window: str, size: int | None, fmt: str, limits: tuple[str, ...], quiet: bool
) -> None:
    """Convert the DICOM files under IN_DIR (or its DICOMDIR) to windowed images in OUT_DIR."""
    from tqdm import tqdm

    parse_window(window)  # refuse a bad window before touching OUT_DIR
    _check_dirs(in_dir, out_dir)
    bounds = _limits(limits)
    files = list_files(in_dir, limits=bounds)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") from exc
    written: dict[Path, Path] = {}
    skipped: list[tuple[Path, str]] = []
    converted_files = 0
    images = iter_images(in_dir, window, size, limits=bounds, files=files)
    for item in tqdm(
        images,
        total=len(files),
        unit="file",
        desc="convert",
        file=sys.stderr,
        disable=True if quiet else None,
    ):
        if item.frames is None:
            skipped.append((item.path, item.reason))
            continue
        targets = _outputs(out_dir, item.path.relative_to(in_dir), len(item.frames))
        clash = next((written[t] for t in targets if t in written), None)
        if clash is not None:
            skipped.append((item.path, f"its output name is already taken by {clash}"))
            continue
        foreign = next((t for t in targets if os.path.lexists(t) and not _written_by_convert(t)), None)
        if foreign is not None:
            skipped.append(
                (
                    item.path,
                    f"{foreign} exists and was not written by medsynth convert; move it "
                    "away or choose another OUT_DIR",
                )
            )
            continue
        try:
            targets[0].parent.mkdir(parents=True, exist_ok=True)
            source = item.path.relative_to(in_dir).as_posix()
            for target, frame in zip(targets, item.frames, strict=True):
                atomic_write_bytes(target, _png(frame, source))
        except OSError as exc:
            raise OutputError(f"cannot write into {out_dir}: {exc.strerror or exc}") from exc
        written.update((target, item.path) for target in targets)
        converted_files += 1

    click.echo(
        f"converted {len(written)} images from {converted_files} files of {in_dir} into {out_dir} "
        f"(window {window}, size {size or 'native'}, {fmt})"
    )
    if skipped:
        click.echo(f"skipped {len(skipped)} files:")
        for path, reason in skipped:
            click.echo(f"  {path}: {reason.removeprefix(str(path)).lstrip(': ')}")
    if not written:
        raise DataError(f"no image could be converted from {in_dir}; see the reasons above")
