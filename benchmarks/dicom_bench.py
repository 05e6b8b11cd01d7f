"""Windowing throughput: medsynth's fused Numba kernel against pydicom and plain numpy, in one run.

A batch of real 512x512 int16 CT slices (pydicom-data's ``693_UNCR.dcm``, repeated) is taken from stored values
to windowed 8-bit display values (Rescale Intercept -1024, lung window) by

* medsynth: ``apply_window`` - rescale + window + clip + cast fused in one parallel pass (uint8 out);
* pydicom: ``apply_modality_lut`` then ``apply_voi_lut`` (float64 out, in the stored range, not yet cast to 8
  bits - less work than the others do);
* numpy: the same formula as one vectorised numpy expression, then cast to uint8.

Bandwidth: the kernel reads 2 bytes and writes 1 per pixel; the reference is a Numba parallel copy of the same
int16 batch (2 bytes read, 2 written per pixel) measured in the same run, so "% of copy" is the fraction of
this machine's attainable memory bandwidth the kernel reaches. Times are the best of ``--repeats`` runs.

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

INTERCEPT = -1024.0


def best_time(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: compiles / loads the kernels, touches the memory
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=64, help="512x512 slices in the batch")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per method (best is reported)")
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("693_UNCR.dcm"))
        slice_ = ds.pixel_array.astype(np.int16)
    assert slice_.shape == (512, 512)
    batch = np.ascontiguousarray(np.repeat(slice_[None], args.slices, axis=0))
    window = PRESETS["lung"]
    ds.RescaleSlope, ds.RescaleIntercept = 1, INTERCEPT
    ds.WindowCenter, ds.WindowWidth = window.center, window.width
    pixels = batch.size

    def fused() -> np.ndarray:
        return apply_window(batch, window.center, window.width, slope=1.0, intercept=INTERCEPT)

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
    low, high = INTERCEPT, 2.0**16 - 1 + INTERCEPT  # pydicom's output range for 16 unsigned stored bits
    reference = np.floor((with_pydicom() - low) / (high - low) * 255.0 + 0.5)
    assert np.abs(fused().astype(int) - reference).max() <= 1 and np.abs(with_numpy() - reference).max() <= 1

    seconds = {name: best_time(run, args.repeats) for name, run in
               (("medsynth fused (uint8)", fused), ("pydicom modality+VOI (float64)", with_pydicom),
                ("numpy expression (uint8)", with_numpy), ("numba parallel copy (int16)", copy))}
    copy_gbs = 4 * pixels / seconds["numba parallel copy (int16)"] / 1e9
    moved = {"medsynth fused (uint8)": 3, "pydicom modality+VOI (float64)": 10, "numpy expression (uint8)": 3,
             "numba parallel copy (int16)": 4}  # bytes read + written per pixel by the result's contract
    pydicom_s = seconds["pydicom modality+VOI (float64)"]

    print(f"batch: {args.slices} x 512 x 512 int16 CT slices ({batch.nbytes / 1e6:.0f} MB), lung window, "
          f"numba threads {numba.get_num_threads()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'method':34s} {'ms':>9s} {'Mpix/s':>9s} {'GB/s':>7s} {'vs pydicom':>11s} {'% of copy':>10s}")
    for name, secs in seconds.items():
        gbs = moved[name] * pixels / secs / 1e9
        print(f"{name:34s} {secs * 1e3:9.1f} {pixels / secs / 1e6:9.0f} {gbs:7.1f} {pydicom_s / secs:10.1f}x "
              f"{100 * gbs / copy_gbs:9.0f}%")


if __name__ == "__main__":
    main()
