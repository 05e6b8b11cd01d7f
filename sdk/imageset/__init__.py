"""Labelled image sets: the one place medsynth reads real images, for training, evaluation and the utility
benchmark.

- :mod:`~medsynth.imageset.layout`: which layout a path is in (ISIC CSVs in both formats, class folders, DICOM
  class folders, generate output, flat folders, ``.npz`` in two forms);
- :mod:`~medsynth.imageset.isic`: ISIC's CSVs and the one ISIC label rule;
- :mod:`~medsynth.imageset.resize`: the one resize policy, ``center-crop+lanczos``, named in the model card;
- :mod:`~medsynth.imageset.load`: :func:`load_image_set`, which returns an :class:`ImageSet`.

Torch-free, like the rest of the SDK; Pillow and pydicom are imported when a file is read.
"""

from medsynth.imageset.files import IMAGE_SUFFIXES
from medsynth.imageset.image_set import ImageSet, check_class_counts
from medsynth.imageset.layout import Layout, detect_layout
from medsynth.imageset.load import load_image_set
from medsynth.imageset.resize import RESIZE_POLICY, check_resize_policy

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageSet",
    "Layout",
    "RESIZE_POLICY",
    "check_class_counts",
    "check_resize_policy",
    "detect_layout",
    "load_image_set",
]
