"""Data sets for training: :func:`load_image_set` reads any layout through :mod:`medsynth.imageset` (the SDK's
one image-set module) into an :class:`ImageSet` of uint8 arrays, cached after the first read."""

from medsynth.imageset import ImageSet
from medsynth.training.data.load import load_image_set

__all__ = ["ImageSet", "load_image_set"]
