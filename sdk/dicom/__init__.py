"""DICOM in medsynth: safe reading, windowing by the standard with fused Numba kernels, and folders.

Importing this package loads numpy and numba; pydicom is imported when a file is first read, and each kernel
compiles on its first call (then comes from the on-disk cache). ``import medsynth`` does not import this
package.

* :func:`load` - one file to ``(frames, rows, columns[, 3])`` display pixels (modality LUT, VOI LUT,
  MONOCHROME1 inversion).
* :func:`load_folder` - a folder (or DICOMDIR) to one ``uint8`` array for training, with the files skipped
  and why.
* :func:`apply_window`, :func:`apply_modality` - the kernels for arrays.
* :data:`PRESETS`, :class:`Window` - named CT windows; :class:`Limits` - size bounds checked before decoding.
"""

from medsynth.dicom.display import apply_modality, apply_window
from medsynth.dicom.folder import list_files, load_folder
from medsynth.dicom.image import load
from medsynth.dicom.presets import PRESETS, Window, parse_window
from medsynth.dicom.reader import DEFAULT_LIMITS, Limits, read

__all__ = [
    "load",
    "load_folder",
    "list_files",
    "read",
    "apply_window",
    "apply_modality",
    "parse_window",
    "PRESETS",
    "Window",
    "Limits",
    "DEFAULT_LIMITS",
]
