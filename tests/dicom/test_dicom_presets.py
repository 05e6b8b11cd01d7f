"""Window names, presets and the ``C,W`` spelling."""

from __future__ import annotations

import pytest

from medsynth.dicom import PRESETS, Window, parse_window
from medsynth.errors import DataError


def test_presets_cover_the_ct_windows_the_issue_names() -> None:
    assert set(PRESETS) >= {"brain", "subdural", "stroke", "lung", "mediastinum", "abdomen", "liver", "bone"}
    assert PRESETS["lung"] == Window(-600, 1500)
    assert PRESETS["brain"] == Window(40, 80)
    with pytest.raises(TypeError):
        PRESETS["mine"] = Window(0, 10)  # type: ignore[index]


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("from-file", "from-file"),
        ("FULL", "full"),
        ("Lung", Window(-600, 1500)),
        ("-600,1500", Window(-600, 1500)),
        (" 40 , 400 ", Window(40, 400)),
        ((50, 350), Window(50, 350)),
        (Window(10, 20, "sigmoid"), Window(10, 20, "SIGMOID")),
    ],
)
def test_parse_window(spec: object, expected: object) -> None:
    assert parse_window(spec) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("lungs", "unknown window 'lungs'.*lung"),
        ("1,2,3", "not 'center,width'"),
        ("a,b", "not 'center,width'"),
        ("40,0", "width must be >= 1"),
        ((1, 2, 3), "window pair"),
        (42, "a window is"),
    ],
)
def test_bad_windows_say_what_is_accepted(spec: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_window(spec)  # type: ignore[arg-type]


def test_window_validates_its_fields() -> None:
    assert Window(0, 0.5, "LINEAR_EXACT").width == 0.5
    with pytest.raises(DataError, match="finite"):
        Window(float("inf"), 10)
    with pytest.raises(DataError, match="finite"):
        Window(True, 10)
