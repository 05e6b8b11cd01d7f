"""Hostile image sets for ``medsynth evaluate``: crafted files give one typed error line, never a traceback,
and nothing outside the given folder is read."""

from __future__ import annotations

import csv
import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from medsynth.cli import main
from medsynth.errors import DataError
from medsynth.imageset import load_image_set

MANIFEST = ["path", "class", "class_index", "seed", "index", "model_sha256", "medsynth_version", "synthetic"]


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG signature and IHDR claiming ``width`` x ``height``, one tiny IDAT, IEND: a bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def flat(tmp_path: Path, n: int = 3) -> Path:
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def one_error_line(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    return result.output


def evaluate_args(synthetic: Path, real: Path, out: Path) -> list[str]:
    return [
        "evaluate",
        "--synthetic",
        str(synthetic),
        "--real",
        str(real),
        "--out",
        str(out),
        "--bootstrap",
        "0",
    ]


def test_png_bomb_is_refused_before_decoding_and_the_limit_can_be_raised(tmp_path):
    folder = flat(tmp_path)
    png_header_only(folder / "bomb.png", 20000, 20000)
    with pytest.raises(DataError, match=r"20000x20000 = 400000000 pixels, above the limit of 89478485"):
        load_image_set(folder)
    message = one_error_line(evaluate_args(folder, folder, tmp_path / "o"))
    assert "--max-pixels" in message
    png_header_only(folder / "bomb.png", 100, 100)  # now small: the same file layout loads
    with pytest.raises(DataError, match="cannot read image"):  # its pixel data is too short: still typed
        load_image_set(folder, max_pixels=10**9)


def test_csv_paths_outside_the_folder_are_refused(tmp_path):
    secret = tmp_path / "secret.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(secret)
    run = tmp_path / "run"
    run.mkdir()
    for bad in (str(secret), "../secret.png", "a/../../secret.png"):
        with (run / "manifest.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(MANIFEST)
            writer.writerow([bad, "melanoma", 1, 0, 0, "x", "0", 1])
        with pytest.raises(DataError, match="lies outside"):
            load_image_set(run)
        assert "lies outside" in one_error_line(evaluate_args(run, run, tmp_path / "o"))
    assert not (tmp_path / "o" / "report.html").exists()


def test_a_link_inside_the_folder_that_leaves_it_is_refused(tmp_path):
    secret = tmp_path / "secret.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(secret)
    run = tmp_path / "run"
    run.mkdir()
    (run / "img.png").symlink_to(secret)
    with (run / "manifest.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([MANIFEST, ["img.png", "melanoma", 1, 0, 0, "x", "0", 1]])
    with pytest.raises(DataError, match="lies outside"):
        load_image_set(run)


def test_latin1_csv_is_a_clear_error(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_bytes("path,diagnosis\nn\xe4vus.png,n\xe4vus\n".encode("latin-1"))
    with pytest.raises(DataError, match="is not UTF-8"):
        load_image_set(labels)


def npz_with_header(path: Path, shape: tuple[int, ...], compress: bool = False) -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", mode) as archive:
        archive.writestr("images.npy", header.getvalue() + b"\0" * 1000)


@pytest.mark.parametrize(
    "case",
    ["empty_file", "not_zip", "empty_zip", "huge_header", "inflates", "object", "no_images", "zero_images"],
)
def test_crafted_npz_files_are_typed_errors(tmp_path, case):
    path = tmp_path / "set.npz"
    if case == "empty_file":
        path.write_bytes(b"")
    elif case == "not_zip":
        path.write_bytes(b"PK\x03\x04 not really")
    elif case == "empty_zip":
        zipfile.ZipFile(path, "w").close()
    elif case == "huge_header":
        npz_with_header(path, (10**7, 1000, 1000, 3))
    elif case == "inflates":  # 64 MiB of zeros compress to ~64 KB; the limit is set below it
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open("images.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array_header_1_0(
                    handle, {"descr": "|u1", "fortran_order": False, "shape": (64, 1024, 1024, 1)}
                )
                block = b"\0" * (1 << 20)
                for _ in range(64):
                    handle.write(block)
    elif case == "object":
        np.savez(path, images=np.array([None, 1], dtype=object))
    elif case == "no_images":
        np.savez(path, labels=np.zeros(3, np.int64))
    else:
        np.savez(path, images=np.zeros((0, 8, 8, 3), np.uint8), labels=np.zeros(0, np.int64))
    limit = {"max_npz_bytes": 1 << 20} if case == "inflates" else {}
    with pytest.raises(DataError):
        load_image_set(path, **limit)
    extra = ["--max-npz-bytes", str(1 << 20)] if case == "inflates" else []
    one_error_line(evaluate_args(path, path, tmp_path / "o") + extra)


def test_a_normal_npz_still_loads(tmp_path):
    path = tmp_path / "ok.npz"
    images = np.arange(2 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 8, 8, 3)
    np.savez_compressed(path, images=images, labels=np.array([0, 1]), class_names=np.array(["a", "b"]))
    loaded = load_image_set(path)
    np.testing.assert_array_equal(loaded.images, images)
    assert loaded.classes == ("a", "b")
