"""medsynth: balanced, labeled synthetic medical images from self-describing ONNX generators."""

from medsynth._version import __version__
from medsynth.errors import MedsynthError

__all__ = ["__version__", "MedsynthError"]
