"""Windowing throughput: medsynth's fused Numba kernels against pydicom and plain numpy, in one run.

A batch of real 512x512 int16 CT slices (pydicom-data's ``693_UNCR.dcm``, repeated) goes from stored values
to windowed 8-bit display values (its Rescale Intercept -1024, the lung window) by

* medsynth ``apply_window``: rescale + window + clip + cast fused in one parallel pass; for this input
  (16-bit, uint8 out, a window float32 resolves to 0.16 LSB) the pass computes in float32;
* medsynth float64 kernel: the same pass in float64 (the path of 32-bit and float input, and of float output);
* medsynth table: one lookup per pixel in a table of all 65,536 stored values (the path of SIGMOID windows,
  LUT Sequences and windows too narrow for float32 on 8/16-bit input);
* pydicom: ``apply_modality_lut`` then ``apply_voi_lut`` (float64 out, in the stored range, not yet cast to 8
  bits - less work than the others do);
* numpy: the LINEAR formula as one vectorised numpy expression, then cast to uint8.

Bandwidth: the kernels read 2 bytes and write 1 per pixel; the reference is a Numba parallel copy of the same
int16 batch (2 bytes read, 2 written per pixel) measured in the same run, so "% of copy" is the fraction of
this machine's attainable memory bandwidth reached. Times are the best of ``--repeats`` wall-clock runs, so
run it on an otherwise idle machine (the load average is printed).

Run: ``python benchmarks/dicom_bench.py [--slices 64] [--repeats 9]``
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable

import numba
import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from medsynth.dicom import PRESETS, apply_window
from medsynth.dicom._kernels import gather, parallel_copy
from medsynth.dicom.voi import _apply_direct, linear_transform

INTERCEPT = -1024.0


def best_time(run: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` runs, after a warm-up (which compiles or loads the kernels)."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=64, help="512x512 slices in the batch")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per method (best is reported)")
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("693_UNCR.dcm"))
        slice_ = ds.pixel_array
    assert slice_.shape == (512, 512) and slice_.dtype == np.int16 and ds.PixelRepresentation == 1
    batch = np.ascontiguousarray(np.repeat(slice_[None], args.slices, axis=0))
    window = PRESETS["lung"]
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, INTERCEPT)
    ds.WindowCenter, ds.WindowWidth = window.center, window.width
    pixels = batch.size

    def fused() -> np.ndarray:
        return apply_window(batch, window.center, window.width, slope=1.0, intercept=INTERCEPT)

    transform = linear_transform(window, 1.0, INTERCEPT)
    flat = batch.reshape(-1)
    direct_out, table_out = np.empty(flat.size, dtype=np.uint8), np.empty(flat.size, dtype=np.uint8)

    def float64_kernel() -> None:
        _apply_direct(flat, transform, direct_out)

    def table() -> None:
        values = np.arange(65536, dtype=np.uint16).view(np.int16)
        lookup = np.empty(values.size, dtype=np.uint8)
        _apply_direct(values, transform, lookup)
        gather(flat.view(np.uint16), table_out, lookup)

    def with_pydicom() -> np.ndarray:
        return apply_voi_lut(apply_modality_lut(batch, ds), ds)

    def with_numpy() -> np.ndarray:
        # LINEAR (PS3.3 C.11.2.1.2.1): ramp over [c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2]
        x = batch * 1.0 + INTERCEPT
        t = np.clip((x - (window.center - 0.5)) / (window.width - 1) + 0.5, 0.0, 1.0)
        return (t * 255.0 + 0.5).astype(np.uint8)

    copy_target = np.empty_like(batch)

    def copy() -> None:
        parallel_copy(batch.reshape(-1), copy_target.reshape(-1))

    # All agree before anything is timed: within 1 LSB of pydicom, the float64 and table paths to the bit.
    half = 2.0 ** (ds.BitsStored - 1)  # pydicom's output range: the signed stored range, rescaled
    low, high = -half + INTERCEPT, half - 1 + INTERCEPT
    reference = np.floor((with_pydicom() - low) / (high - low) * 255.0 + 0.5).reshape(-1)
    float64_kernel()
    table()
    assert np.abs(direct_out - reference).max() <= 1 and np.array_equal(direct_out, table_out)
    assert np.abs(fused().reshape(-1).astype(int) - reference).max() <= 1
    assert np.abs(with_numpy().reshape(-1) - reference).max() <= 1

    runs = (
        ("medsynth apply_window (uint8)", fused, 3),
        ("medsynth float64 kernel (uint8)", float64_kernel, 3),
        ("medsynth table (uint8)", table, 3),
        ("pydicom modality+VOI (float64)", with_pydicom, 10),
        ("numpy expression (uint8)", with_numpy, 3),
        ("numba parallel copy (int16)", copy, 4),
    )
    # moved: bytes read + written per pixel by the result's contract (pydicom: 2 in, 8 out)
    seconds = {name: best_time(run, args.repeats) for name, run, _ in runs}
    pydicom_s = seconds["pydicom modality+VOI (float64)"]
    copy_gbs = 4 * pixels / seconds["numba parallel copy (int16)"] / 1e9
    print(
        f"batch: {args.slices} x 512 x 512 int16 CT slices ({batch.nbytes / 1e6:.0f} MB), lung window, "
        f"numba threads {numba.get_num_threads()} ({numba.threading_layer()}), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'method':34s} {'ms':>8s} {'Mpix/s':>8s} {'GB/s':>6s} {'vs pydicom':>11s} {'% of copy':>10s}")
    for name, _, moved in runs:
        secs = seconds[name]
        gbs = moved * pixels / secs / 1e9
        print(
            f"{name:34s} {secs * 1e3:8.1f} {pixels / secs / 1e6:8.0f} {gbs:6.1f} {pydicom_s / secs:10.1f}x "
            f"{100 * gbs / copy_gbs:9.0f}%"
        )


if __name__ == "__main__":
    main()
