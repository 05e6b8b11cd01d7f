"""--png-compression: every level keeps pixels and text at Pillow's size or less; a resume keeps old files."""

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
from medsynth.writers._png_encode import encode_png
from medsynth.writers.base import ImageMeta
from medsynth.writers.formats import load_writer
from medsynth.writers.png import DEFAULT_PNG_COMPRESSION, PngWriter
from medsynth.writers.run import write_run


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def manifest(out):
    with (out / "manifest.csv").open(newline="") as handle:
        return {row["path"]: row for row in csv.DictReader(handle)}


def chunks(data):
    """(type, payload) of every chunk of a PNG file, each CRC checked (an independent chunk walk)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big") == zlib.crc32(kind + payload)
        out.append((kind, payload))
        pos += 12 + length
    assert out[0][0] == b"IHDR" and out[-1] == (b"IEND", b"")
    return out


def idat(data):
    """The concatenated IDAT payload of a PNG file."""
    return b"".join(payload for kind, payload in chunks(data) if kind == b"IDAT")


def unfilter(raw, height, row_bytes, bpp):
    """Scanlines of any of the five PNG filter types back to pixels, spelled out from the specification."""
    rows, previous = [], [0] * row_bytes
    for y in range(height):
        line = raw[y * (row_bytes + 1) : (y + 1) * (row_bytes + 1)]
        kind, current = line[0], list(line[1:])
        for x in range(row_bytes):
            a = current[x - bpp] if x >= bpp else 0
            b, c = previous[x], previous[x - bpp] if x >= bpp else 0
            p = a + b - c
            paeth = (
                a
                if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c)
                else b
                if abs(p - b) <= abs(p - c)
                else c
            )
            current[x] = (current[x] + (0, a, b, (a + b) // 2, paeth)[kind]) % 256
        rows.append(current)
        previous = current
    return np.array(rows, dtype=np.uint8)


def pillow_png(image, meta, level):
    """The same file written by Pillow (adaptive filters, zlib): the peer for size."""
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


def test_every_level_keeps_the_pixels_and_text_and_pillow_s_size(sample):
    images, metas = sample
    sizes = {}
    for level in range(10):
        writer = PngWriter(compression=level)
        for image, meta in zip(images, metas, strict=True):
            data = writer.encode(image, meta)
            with Image.open(io.BytesIO(data)) as decoded:  # Pillow, an independent decoder
                np.testing.assert_array_equal(np.asarray(decoded), image)
                assert decoded.text == {
                    "Software": f"medsynth {__version__}",
                    "Description": f"Synthetic image, not of a patient: model {meta.card.name}, class "
                    f"{meta.class_name}, seed {meta.seed}, index {meta.index}",
                    "medsynth:synthetic": "1",
                    "medsynth:model_sha256": meta.model_sha256,
                }
            raw = zlib.decompress(idat(data))  # and the specification, spelled out
            height, width = image.shape[:2]
            np.testing.assert_array_equal(unfilter(raw, height, width * 3, 3), image.reshape(height, -1))
            assert writer.encode(image, meta) == data  # reproducible at each level
            sizes.setdefault(level, []).append(len(data))
            if level == 0:  # stored blocks: the zlib stream holds the raw scanlines (filter byte + pixels)
                assert len(idat(data)) >= len(raw) == height * (1 + width * 3)
    assert sum(sizes[9]) < sum(sizes[1]) < sum(sizes[0])
    for level in (1, 6, 9):  # Paeth rows and ISA-L or zlib: at most 1% above Pillow's adaptive filters
        pillow = sum(len(pillow_png(image, meta, level)) for image, meta in zip(images, metas, strict=True))
        assert sum(sizes[level]) <= 1.01 * pillow, level
    assert PngWriter().compression == DEFAULT_PNG_COMPRESSION


def test_greyscale_and_text_that_is_not_latin_1(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 7, 1), dtype=np.uint8)
    image[2] = 255  # rows whose difference wraps modulo 256
    image[3] = 0
    text = {"Title": "plain", "Comment": "l\u00e9sion \u2013 \u75c5\u53d8"}
    data = encode_png(image, text, 1)
    kinds = [kind for kind, _ in chunks(data)]
    assert kinds == [b"IHDR", b"tEXt", b"iTXt", b"IDAT", b"IEND"]
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.mode == "L" and decoded.text == text
        np.testing.assert_array_equal(np.asarray(decoded), image[:, :, 0])
    np.testing.assert_array_equal(unfilter(zlib.decompress(idat(data)), 5, 7, 1), image[:, :, 0])
    strided = np.asfortranarray(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8))
    with Image.open(io.BytesIO(encode_png(strided, {}, 9))) as decoded:
        np.testing.assert_array_equal(np.asarray(decoded), strided)


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
