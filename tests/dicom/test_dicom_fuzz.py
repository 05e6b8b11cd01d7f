"""Fuzzing the reader: thousands of mutants of real files, and not one exception outside medsynth's own types.

Each mutant is a real file with a few bytes changed (mostly in the header, where parsing happens), an extreme
integer written over a value or length, a range deleted or duplicated, or the file cut short. Loading it must
either work or raise DicomError / DataError. The run is seeded (MEDSYNTH_FUZZ_SEED overrides the seed) and
bounded: up to MUTANTS mutants or CPU_BUDGET_S seconds of this process's CPU time, whichever comes first (CPU
time, not wall time, so that a busy machine makes the run slower, not smaller).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from medsynth.dicom import load
from medsynth.errors import DataError

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402

MUTANTS = 3000
CPU_BUDGET_S = 30.0
MINIMUM_MUTANTS = 300  # fewer than this means the run tested nothing worth the name
# Small files that cover the parsers and decoders: native little/big endian, deflate, RLE, JPEG, JPEG 2000,
# multi-frame, colour, palette, 1-bit, Modality and VOI LUT Sequences, a DICOMDIR.
SEEDS = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "image_dfl.dcm",
    "rtdose.dcm",
    "emri_small.dcm",
    "SC_rgb.dcm",
    "SC_rgb_rle_2frame.dcm",
    "MR_small_jp2klossless.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "vlut_04.dcm",
    "mlut_18.dcm",
    "OBXXXX1A_rle.dcm",
    "liver_1frame.dcm",
    "DICOMDIR",
    "ExplVR_BigEnd.dcm",
]
WINDOWS = ["full", "from-file", "lung", "40,1"]
EXTREMES = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
TEXTS = [b"\\", b"-", b"1e999", b"nan", b"\x00\x00", b"99999999", b"-0", b" "]


def _position(rng: np.random.Generator, size: int) -> int:
    """Mostly in the first 2 KiB (the header), sometimes anywhere."""
    if rng.random() < 0.8:
        return int(rng.integers(0, min(size, 2048)))
    return int(rng.integers(0, size))


def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One random mutation of ``data`` and a short description of it."""
    buffer = bytearray(data)
    kind = rng.choice(["bytes", "integer", "text", "delete", "duplicate", "truncate"])
    at = _position(rng, len(buffer))
    if kind == "bytes":
        for _ in range(int(rng.integers(1, 9))):
            buffer[_position(rng, len(buffer))] = int(rng.integers(0, 256))
    elif kind == "integer":
        width = int(rng.choice([2, 4]))
        value = int(rng.choice(EXTREMES)) & ((1 << (8 * width)) - 1)
        buffer[at : at + width] = value.to_bytes(width, str(rng.choice(["little", "big"])))  # type: ignore[arg-type]
    elif kind == "text":
        text = TEXTS[int(rng.integers(len(TEXTS)))]
        buffer[at : at + len(text)] = text
    elif kind == "delete":
        del buffer[at : at + int(rng.integers(1, 65))]
    elif kind == "duplicate":
        buffer[at:at] = buffer[at : at + int(rng.integers(1, 65))]
    else:
        del buffer[at:]
    return bytes(buffer), f"{kind}@{at}"


def test_mutants_raise_only_medsynth_errors(tmp_path: Path) -> None:
    seed = int(os.environ.get("MEDSYNTH_FUZZ_SEED", "20240917"))
    rng = np.random.default_rng(seed)
    originals = {name: Path(get_testdata_file(name)).read_bytes() for name in SEEDS}
    path = tmp_path / "mutant.dcm"
    outcomes = {"loaded": 0, "refused": 0}
    uncaught: list[str] = []
    start, wall = time.process_time(), time.monotonic()
    count = 0
    while count < MUTANTS and time.process_time() - start < CPU_BUDGET_S:
        name = SEEDS[count % len(SEEDS)]
        mutant, what = mutate(originals[name], rng)
        path.write_bytes(mutant)
        window = WINDOWS[count % len(WINDOWS)]
        try:
            load(path, window)
            outcomes["loaded"] += 1
        except DataError:  # DicomError is a DataError
            outcomes["refused"] += 1
        except Exception as exc:  # the point of the test: anything else is a bug
            uncaught.append(
                f"seed {seed} mutant {count} of {name} ({what}, window {window}): {type(exc).__name__}: {exc}"
            )
        count += 1
    cpu, elapsed = time.process_time() - start, time.monotonic() - wall
    print(f"fuzz: {count} mutants in {cpu:.1f} s CPU, {elapsed:.1f} s wall, {outcomes}")
    assert not uncaught, f"{len(uncaught)} uncaught exceptions, first: " + "\n".join(uncaught[:5])
    assert count >= MINIMUM_MUTANTS
    assert outcomes["loaded"] and outcomes["refused"]  # the mutations neither all break nor all miss
