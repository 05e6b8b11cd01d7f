"""The fused windowing kernels against the formulas of PS3.3 C.11.2.1.2 / C.11.2.1.3, written out piecewise.

The oracle below is a literal numpy transcription of the standard (not of the kernels' folded form), on
float64. Both the serial path and the parallel path (inputs of at least PARALLEL_MIN_SIZE elements) are run.
"""

from __future__ import annotations

import numpy as np
import pytest

from medsynth.dicom import Window, apply_modality, apply_window
from medsynth.dicom._kernels import PARALLEL_MIN_SIZE
from medsynth.dicom.display import OUTPUTS, run_transform
from medsynth.dicom.voi import Transform, _apply_direct, _float32_is_enough, linear_transform
from medsynth.errors import DataError


def standard_window(x: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """C.11.2.1.2.1 (LINEAR), C.11.2.1.3.2 (LINEAR_EXACT) and C.11.2.1.3.1 (SIGMOID), output range [0, 1]."""
    x = x.astype(np.float64)
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    if function == "LINEAR":
        low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            ramp = (x - (center - 0.5)) / (width - 1) + 0.5
    else:
        low, high = center - width / 2, center + width / 2
        ramp = (x - center) / width + 0.5
    return np.where(x <= low, 0.0, np.where(x > high, 1.0, ramp))


def to_uint8(t: np.ndarray) -> np.ndarray:
    return np.floor(t * 255.0 + 0.5).astype(np.uint8)


SIZES = [(37, 41), (PARALLEL_MIN_SIZE // 512 + 3, 512)]  # serial path, parallel path


@pytest.mark.parametrize("dtype", ["int16", "int32"])  # large int16 goes through the table, int32 does not
@pytest.mark.parametrize("shape", SIZES, ids=["serial", "parallel"])
@pytest.mark.parametrize(
    "function, center, width",
    [
        ("LINEAR", 40.0, 400.0),
        ("LINEAR", -600.0, 1500.0),
        ("LINEAR_EXACT", 40.0, 80.0),
        ("SIGMOID", 300.0, 700.0),
    ],
)
def test_window_matches_the_standard(
    shape: tuple[int, int], dtype: str, function: str, center: float, width: float
) -> None:
    rng = np.random.default_rng(1)
    stored = rng.integers(-2048, 4096, size=shape).astype(dtype)
    slope, intercept = 1.0, -1024.0
    expected = standard_window(stored * slope + intercept, center, width, function)
    as_float = apply_window(stored, center, width, function, slope, intercept, out="float")
    as_uint8 = apply_window(stored, center, width, function, slope, intercept)
    assert as_float.dtype == np.float32 and as_float.shape == shape
    np.testing.assert_allclose(as_float, expected, rtol=1e-6, atol=1e-6)
    assert as_uint8.dtype == np.uint8
    assert np.abs(as_uint8.astype(int) - to_uint8(expected)).max() <= 1
    assert np.mean(as_uint8 == to_uint8(expected)) > 0.999


@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]
)
def test_every_pixel_dtype(dtype: str) -> None:
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(np.float32)
    rng = np.random.default_rng(2)
    values = rng.uniform(max(info.min, -5000), min(info.max, 5000), size=(20, 30)).astype(dtype)
    got = apply_window(values, 100.0, 300.0, slope=2.0, intercept=-7.0, out="float")
    np.testing.assert_allclose(got, standard_window(values * 2.0 - 7.0, 100.0, 300.0, "LINEAR"), atol=1e-6)


def _every_value_of(dtype: str, seed: int) -> np.ndarray:
    """Random stored values of ``dtype``, enough of them for the table path."""
    info = np.iinfo(dtype)
    size = (4 << info.bits) + 5  # past the size at which the table pays for itself
    return np.random.default_rng(seed).integers(info.min, info.max, size=size, endpoint=True).astype(dtype)


def _direct(stored: np.ndarray, transform: Transform, out: str) -> np.ndarray:
    result = np.empty(stored.size, dtype=OUTPUTS[out])
    _apply_direct(stored, transform, result)
    return result


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
@pytest.mark.parametrize(
    "window, invert, out",
    [
        (Window(0, 1000, "SIGMOID"), True, "uint8"),  # sigmoid: table
        (Window(0, 1000, "SIGMOID"), False, "float"),
        (Window(100, 900), True, "float"),  # float output: table
        (Window(100, 1), False, "uint8"),  # the width-1 step, no float32: table
    ],
)
def test_the_table_path_equals_the_arithmetic_path(
    dtype: str, window: Window, invert: bool, out: str
) -> None:
    """8/16-bit inputs of many pixels go through a table of every stored value: the same numbers."""
    stored = _every_value_of(dtype, 6)
    transform = linear_transform(window, 0.75, -11.0, invert)
    assert not _float32_is_enough(stored, transform, np.empty(0, dtype=OUTPUTS[out]))
    np.testing.assert_array_equal(run_transform(stored, transform, out), _direct(stored, transform, out))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
@pytest.mark.parametrize("invert", [False, True])
def test_the_float32_path_is_within_a_rounding_of_float64(dtype: str, invert: bool) -> None:
    """A linear window into uint8 runs in float32 where that is precise to 0.16 LSB: it may differ from
    float64 by 1, and only for values that float64 puts within 0.16 LSB of a rounding boundary."""
    stored = _every_value_of(dtype, 7)
    info = np.iinfo(dtype)
    window = Window((info.min + info.max) / 3, (info.max - info.min) / 5)
    transform = linear_transform(window, 0.75, -11.0, invert)
    assert _float32_is_enough(stored, transform, np.empty(0, dtype=np.uint8))
    fast, exact = run_transform(stored, transform, "uint8"), _direct(stored, transform, "uint8")
    scaled = _direct(stored, transform, "float").astype(np.float64) * 255.0 + 0.5
    near_boundary = np.abs(scaled - np.round(scaled)) < 0.16 + 1e-6
    assert np.abs(fast.astype(int) - exact).max() <= 1
    assert np.all(near_boundary[fast != exact])


def test_float32_is_used_only_where_precise_enough() -> None:
    ct = np.zeros(4, dtype=np.int16)
    uint8 = np.empty(0, dtype=np.uint8)
    assert _float32_is_enough(ct, linear_transform(Window(-600, 1500), 1.0, -1024.0), uint8)  # lung
    assert not _float32_is_enough(ct, linear_transform(Window(32, 8), 1.0, -1024.0), uint8)  # stroke
    assert not _float32_is_enough(ct, linear_transform(Window(0, 1)), uint8)  # the width-1 step
    assert not _float32_is_enough(ct, linear_transform(Window(-600, 1500)), np.empty(0, dtype=np.float32))


def test_width_one_is_a_step_at_the_center() -> None:
    values = np.arange(-5, 6, dtype=np.int16)
    got = apply_window(values, 0.0, 1.0)  # LINEAR, width 1: x <= c - 0.5 -> 0, x > c - 0.5 -> 255
    np.testing.assert_array_equal(got, np.where(values <= -0.5, 0, 255))


def test_invert_monochrome1() -> None:
    values = np.linspace(-100, 100, 101)
    plain = apply_window(values, 0.0, 150.0, out="float")
    inverted = apply_window(values, 0.0, 150.0, out="float", invert=True)
    np.testing.assert_allclose(inverted, 1.0 - plain, atol=1e-7)


def test_nan_and_infinite_inputs_are_defined() -> None:
    values = np.array([np.nan, -np.inf, np.inf, 0.0])
    np.testing.assert_array_equal(apply_window(values, 0.0, 100.0, "LINEAR_EXACT"), [0, 0, 255, 128])
    np.testing.assert_array_equal(apply_window(values, 0.0, 100.0, "SIGMOID"), [0, 0, 255, 128])


def test_big_endian_and_strided_inputs_give_the_same_result() -> None:
    native = np.random.default_rng(3).integers(-1000, 1000, size=(64, 64)).astype(np.int16)
    expected = apply_window(native, 50.0, 350.0)
    np.testing.assert_array_equal(apply_window(native.astype(">i2"), 50.0, 350.0), expected)
    wide = np.zeros((64, 128), dtype=np.int16)
    wide[:, ::2] = native
    np.testing.assert_array_equal(apply_window(wide[:, ::2], 50.0, 350.0), expected)


@pytest.mark.parametrize("shape", SIZES, ids=["serial", "parallel"])
def test_apply_modality_is_the_rescale(shape: tuple[int, int]) -> None:
    stored = np.random.default_rng(4).integers(0, 4096, size=shape).astype(np.uint16)
    exact = stored.astype(np.float64) * 0.5 - 1024.0
    np.testing.assert_array_equal(apply_modality(stored, 0.5, -1024.0, dtype=np.float64), exact)
    np.testing.assert_allclose(apply_modality(stored, 0.5, -1024.0), exact, rtol=1e-7)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: apply_window(np.zeros(4), 0, 0.5), "width must be >= 1"),
        (lambda: apply_window(np.zeros(4), 0, 0, "SIGMOID"), "width must be > 0"),
        (lambda: apply_window(np.zeros(4), 0, 10, "GAMMA"), "unsupported VOI LUT function"),
        (lambda: apply_window(np.zeros(4), float("nan"), 10), "center must be a finite number"),
        (lambda: apply_window(np.zeros(4), 0, 10, slope=float("inf")), "slope must be a finite number"),
        (lambda: apply_window(np.zeros(4), 0, 10, out="int16"), "out must be one of"),
        (lambda: apply_window(np.zeros(4, dtype=complex), 0, 10), "integer or floating point"),
        (lambda: apply_modality(np.zeros(4), dtype=np.int32), "float32 or float64"),
    ],
)
def test_bad_arguments_are_data_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=message):
        call()
