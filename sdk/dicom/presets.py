"""Windows: the :class:`Window` value, the named CT presets, and how a user spells a window.

A window is given as one of

* ``"from-file"``: the file's own VOI LUT Sequence or Window Center / Width (an error if it has neither);
* ``"full"``: the whole range the stored bits can hold (after the modality LUT), the standard's default when a
  file has no VOI transform, and what colour images use;
* a preset name from :data:`PRESETS` (``"lung"``, ``"brain"``, ...), in Hounsfield units;
* a ``(center, width)`` pair or a :class:`Window` (which can also name the VOI LUT function).

This module imports neither numba nor pydicom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from medsynth.errors import DataError

__all__ = ["Window", "PRESETS", "FROM_FILE", "FULL_RANGE", "WindowSpec", "parse_window"]

FROM_FILE = "from-file"
FULL_RANGE = "full"
FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


@dataclass(frozen=True)
class Window:
    """A VOI window as PS3.3 C.11.2.1.2 defines it, applied to modality-LUT output (e.g. HU)."""

    center: float  # Window Center (0028,1050)
    width: float  # Window Width (0028,1051); LINEAR needs >= 1, LINEAR_EXACT and SIGMOID > 0
    function: str = "LINEAR"  # VOI LUT Function (0028,1056): LINEAR, LINEAR_EXACT or SIGMOID

    def __post_init__(self) -> None:
        function = str(self.function).strip().upper()
        object.__setattr__(self, "function", function)
        if function not in FUNCTIONS:
            raise DataError(
                f"unsupported VOI LUT function {self.function!r}; use one of {', '.join(FUNCTIONS)}"
            )
        for name in ("center", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise DataError(f"window {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        minimum_ok = self.width >= 1 if function == "LINEAR" else self.width > 0
        if not minimum_ok:
            bound = ">= 1" if function == "LINEAR" else "> 0"
            raise DataError(
                f"window width must be {bound} for {function} (PS3.3 C.11.2.1.2), got {self.width:g}"
            )


# Typical CT windows (center, width) in HU, as Radiopaedia's "Windowing (CT)" article lists them; where it
# gives a range (subdural 50-100 / 130-300) the midpoint is used. Stroke is the narrow window of Radiopaedia
# case 19148.
PRESETS: MappingProxyType[str, Window] = MappingProxyType(
    {
        "brain": Window(40, 80),
        "subdural": Window(75, 215),
        "stroke": Window(32, 8),
        "lung": Window(-600, 1500),
        "mediastinum": Window(50, 350),
        "abdomen": Window(50, 400),
        "liver": Window(30, 150),
        "bone": Window(400, 1800),
    }
)

WindowSpec = str | Window | tuple[float, float]


def parse_window(spec: WindowSpec) -> Window | str:
    """Turn what a user wrote into a :class:`Window`, ``"from-file"`` or ``"full"``.

    Parameters
    ----------
    spec
        ``"from-file"``, ``"full"``, a preset name, ``"C,W"`` (e.g. ``"-600,1500"``), a ``(center, width)``
        pair or a :class:`Window`.

    Returns
    -------
    Window or str
        A window, or one of the strings :data:`FROM_FILE` and :data:`FULL_RANGE`.

    Raises
    ------
    DataError
        An unknown name, a malformed ``"C,W"`` or an invalid width; the message lists the presets.
    """
    if isinstance(spec, Window):
        return spec
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise DataError(f"a window pair is (center, width), got {spec!r}")
        return Window(spec[0], spec[1])
    if not isinstance(spec, str):
        raise DataError(f"a window is a name, 'C,W', a (center, width) pair or a Window, got {spec!r}")
    text = spec.strip()
    key = text.lower()
    if key in (FROM_FILE, FULL_RANGE):
        return key
    if key in PRESETS:
        return PRESETS[key]
    if "," in text:
        parts = text.split(",")
        try:
            center, width = (float(part) for part in parts)
        except ValueError:
            raise DataError(
                f"window {spec!r} is not 'center,width' (two numbers, e.g. '-600,1500')"
            ) from None
        return Window(center, width)
    raise DataError(
        f"unknown window {spec!r}: use {FROM_FILE}, {FULL_RANGE}, 'center,width' or a preset "
        f"({', '.join(PRESETS)})"
    )
