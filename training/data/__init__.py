"""Data sets for training: every source becomes an :class:`ImageSet` of uint8 arrays, cached after the first
read."""

from medsynth.training.data.image_set import ImageSet
from medsynth.training.data.load import load_image_set

__all__ = ["ImageSet", "load_image_set"]
