"""--png-compression: every level keeps the pixels, level 6 the bytes of before, a resume the old files."""

from __future__ import annotations

import csv
import io
import os
import sys
import threading
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, PngImagePlugin

from medsynth import Generator
from medsynth._version import __version__
from medsynth.cli import main
from medsynth.errors import ArgumentError
from medsynth.writers.base import ImageMeta
from medsynth.writers.formats import load_writer
from medsynth.writers.png import DEFAULT_PNG_COMPRESSION, PngWriter
from medsynth.writers.run import write_run


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def manifest(out):
    with (out / "manifest.csv").open(newline="") as handle:
        return {row["path"]: row for row in csv.DictReader(handle)}


def idat(data):
    """The concatenated IDAT payload of a PNG file (an independent chunk walk)."""
    pos, out = 8, b""
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"IDAT":
            out += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return out


def reference_png(image, meta, level):
    """What medsynth wrote before --png-compression existed (at its fixed level 6), spelled out again."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"medsynth {__version__}")
    info.add_text(
        "Description",
        f"Synthetic image, not of a patient: model {meta.card.name}, class "
        f"{meta.class_name}, seed {meta.seed}, index {meta.index}",
    )
    info.add_text("medsynth:synthetic", "1")
    info.add_text("medsynth:model_sha256", meta.model_sha256)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", pnginfo=info, compress_level=level, optimize=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sample():
    gen = Generator.load("isic2017-64", device="cpu", threads=1)  # real images: compression has work to do
    images = gen.generate_indices(1, range(3), 5)
    metas = [
        ImageMeta(
            card=gen.card, class_name=gen.classes[1], class_index=1, seed=5, index=i, model_sha256=gen.sha256
        )
        for i in range(3)
    ]
    return images, metas


def test_every_level_keeps_the_pixels_and_level_6_the_bytes_of_before(sample):
    images, metas = sample
    sizes = {}
    for level in range(10):
        writer = PngWriter(compression=level)
        for image, meta in zip(images, metas, strict=True):
            data = writer.encode(image, meta)
            with Image.open(io.BytesIO(data)) as decoded:
                np.testing.assert_array_equal(np.asarray(decoded), image)
                assert decoded.text["medsynth:synthetic"] == "1"
            assert writer.encode(image, meta) == data  # reproducible at each level
            sizes.setdefault(level, []).append(len(data))
            if level == 6:
                assert data == reference_png(image, meta, 6)
            if level == 0:  # stored blocks: the zlib stream holds the raw scanlines (filter byte + pixels)
                raw = zlib.decompress(idat(data))
                assert len(idat(data)) >= len(raw) == image.shape[0] * (1 + image.shape[1] * 3)
    assert sum(sizes[9]) < sum(sizes[1]) < sum(sizes[0])
    assert PngWriter().compression == DEFAULT_PNG_COMPRESSION


@pytest.mark.parametrize("bad", [-1, 10, True, "3", 2.0])
def test_bad_levels_are_argument_errors(bad):
    with pytest.raises(ArgumentError, match="PNG compression level"):
        PngWriter(compression=bad)


def test_load_writer_takes_the_level_for_png_only():
    assert load_writer("png", png_compression=9).compression == 9
    assert load_writer("png").compression == DEFAULT_PNG_COMPRESSION
    with pytest.raises(ArgumentError, match="--png-compression is for --format png, not npz"):
        load_writer("npz", png_compression=1)


def test_resume_at_another_level_keeps_the_files_of_the_first(tmp_path, tiny_model):
    gen = Generator.load(tiny_model, device="cpu")
    out, peer = tmp_path / "run", tmp_path / "peer"
    write_run(gen, {"nevus": 3}, out, png_compression=0, batch_size=2)
    first = {path: (out / path).read_bytes() for path in manifest(out)}
    rows = manifest(out)
    summary = write_run(gen, {"nevus": 5}, out, png_compression=9, batch_size=2)
    assert (summary.written, summary.skipped) == (2, 3)
    after = manifest(out)
    assert {p: (out / p).read_bytes() for p in first} == first and {p: after[p] for p in rows} == rows
    write_run(gen, {"nevus": 5}, peer, png_compression=9, batch_size=4)
    for path in after:  # the two new files are level 9's bytes; all five are the same pixels
        if path not in first:
            assert (out / path).read_bytes() == (peer / path).read_bytes()
        with Image.open(out / path) as a, Image.open(peer / path) as b:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_cli_png_compression(tmp_path, tiny_model):
    out, api = tmp_path / "cli", tmp_path / "api"
    result = run(
        "generate",
        "--model",
        tiny_model,
        "--class",
        "melanoma",
        "--n",
        3,
        "--out",
        out,
        "--png-compression",
        9,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    write_run(Generator.load(tiny_model, device="cpu"), {"melanoma": 3}, api, png_compression=9)
    assert manifest(out) == manifest(api)
    assert all((out / p).read_bytes() == (api / p).read_bytes() for p in manifest(out))
    npz = run(
        "generate",
        "--model",
        tiny_model,
        "--class",
        "melanoma",
        "--n",
        1,
        "--out",
        tmp_path / "n",
        "--format",
        "npz",
        "--png-compression",
        1,
    )
    assert npz.exit_code == 2
    assert npz.stderr.strip() == "Error: --png-compression is for --format png, not npz"
    assert not (tmp_path / "n").exists()
    bad = run(
        "generate",
        "--model",
        tiny_model,
        "--class",
        "melanoma",
        "--n",
        1,
        "--out",
        tmp_path / "b",
        "--png-compression",
        10,
    )
    assert bad.exit_code == 2 and "--png-compression" in bad.stderr and not (tmp_path / "b").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities are set on Linux only")
def test_the_writer_thread_is_nicer_than_inference(tmp_path, tiny_model, monkeypatch):
    seen = []
    encode = PngWriter.encode

    def spy(self, image, meta):
        seen.append(
            (
                threading.current_thread() is threading.main_thread(),
                os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
            )
        )
        return encode(self, image, meta)

    monkeypatch.setattr(PngWriter, "encode", spy)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    write_run(Generator.load(tiny_model, device="cpu"), {"nevus": 2}, tmp_path / "run")
    assert seen and all(not on_main and nice == min(19, mine + 5) for on_main, nice in seen)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller is untouched
