"""Windowing throughput: medsynth's fused Numba kernel against pydicom and plain numpy, in one run.

A batch of real 512x512 int16 CT slices (pydicom-data's ``693_UNCR.dcm``, repeated) goes from stored values
to windowed 8-bit display values (Rescale Intercept -1024, lung window) by

* medsynth: ``apply_window`` - rescale + window + clip + cast fused in one parallel pass (uint8 out); for
  int16 input that pass is a lookup in a table the fused kernel computes over all 65,536 stored values;
* medsynth arithmetic: the fused kernel itself over every pixel (the path of 32-bit and float input);
* pydicom: ``apply_modality_lut`` then ``apply_voi_lut`` (float64 out, in the stored range, not yet cast to 8
  bits - less work than the others do);
* numpy: the same formula as one vectorised numpy expression, then cast to uint8.

Bandwidth: the kernel reads 2 bytes and writes 1 per pixel; the reference is a Numba parallel copy of the same
int16 batch (2 bytes read, 2 written per pixel) measured in the same run, so "% of copy" is the fraction of
this machine's attainable memory bandwidth the kernel reaches. Times are the best of ``--repeats`` runs.

Two clocks: wall time (what a user waits; only meaningful on an otherwise idle machine) and this process's CPU
time summed over its threads (work done; stable when other processes compete for the cores). Per CPU-second,
a parallel method's figure is its per-core throughput.

Run: ``python benchmarks/dicom_bench.py [--slices 64] [--repeats 7]``
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
from medsynth.dicom._kernels import parallel_copy
from medsynth.dicom.voi import _apply_direct, linear_transform

INTERCEPT = -1024.0


def best_times(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best wall time and best CPU time (all threads of this process) of ``repeats`` runs, after a warm-up."""
    run()  # warm-up: compiles / loads the kernels, touches the memory
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=64, help="512x512 slices in the batch")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per method (best is reported)")
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
    direct_out = np.empty(batch.shape, dtype=np.uint8)

    def arithmetic() -> None:
        _apply_direct(batch.reshape(-1), transform, direct_out.reshape(-1))

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

    # The three agree before anything is timed.
    half = 2.0 ** (ds.BitsStored - 1)  # pydicom's output range: the signed stored range, rescaled
    low, high = -half + INTERCEPT, half - 1 + INTERCEPT
    reference = np.floor((with_pydicom() - low) / (high - low) * 255.0 + 0.5)
    assert np.abs(fused().astype(int) - reference).max() <= 1 and np.abs(with_numpy() - reference).max() <= 1
    arithmetic()
    assert np.array_equal(direct_out, fused())

    runs = (("medsynth fused (uint8)", fused, 3), ("medsynth arithmetic kernel (uint8)", arithmetic, 3),
            ("pydicom modality+VOI (float64)", with_pydicom, 10),
            ("numpy expression (uint8)", with_numpy, 3), ("numba parallel copy (int16)", copy, 4))
    # bytes read + written per pixel by the result's contract (pydicom: 2 in, 8 out)
    timed = {name: best_times(run, args.repeats) for name, run, _ in runs}
    print(f"batch: {args.slices} x 512 x 512 int16 CT slices ({batch.nbytes / 1e6:.0f} MB), lung window, "
          f"numba threads {numba.get_num_threads()} ({numba.threading_layer()}), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    for clock, index in (("wall", 0), ("CPU", 1)):
        pydicom_s = timed["pydicom modality+VOI (float64)"][index]
        copy_gbs = 4 * pixels / timed["numba parallel copy (int16)"][index] / 1e9
        print(f"\nper {clock} second:")
        print(f"{'method':36s} {'ms':>9s} {'Mpix/s':>9s} {'GB/s':>7s} {'vs pydicom':>11s} {'% of copy':>10s}")
        for name, _, moved in runs:
            secs = timed[name][index]
            gbs = moved * pixels / secs / 1e9
            print(f"{name:36s} {secs * 1e3:9.1f} {pixels / secs / 1e6:9.0f} {gbs:7.1f} "
                  f"{pydicom_s / secs:10.1f}x {100 * gbs / copy_gbs:9.0f}%")


if __name__ == "__main__":
    main()
