"""medsynth: balanced, labeled synthetic medical images from self-describing ONNX generators.

>>> from medsynth import Generator, plan_balance
>>> gen = Generator.load("model.onnx")                                    # doctest: +SKIP
>>> need = plan_balance({"nevus": 1372, "melanoma": 374})                 # {'nevus': 0, 'melanoma': 998}
>>> images, labels = gen.generate(need["melanoma"], "melanoma", seed=0)  # doctest: +SKIP

``import medsynth`` loads numpy and nothing heavier: onnxruntime is imported when a model is loaded, Pillow
when a PNG is written, and torch never.
"""

from medsynth._version import __version__
from medsynth.balance import plan_balance
from medsynth.errors import (
    ArgumentError,
    DataError,
    DeviceError,
    DicomError,
    MedsynthError,
    MissingExtraError,
    ModelError,
    OutputError,
    SendError,
    UnknownClassError,
)
from medsynth.generator import Batch, Generator
from medsynth.model_card import ModelCard

__all__ = [
    "__version__",
    "Generator",
    "Batch",
    "ModelCard",
    "plan_balance",
    "MedsynthError",
    "ModelError",
    "UnknownClassError",
    "OutputError",
    "DataError",
    "DicomError",
    "DeviceError",
    "MissingExtraError",
    "ArgumentError",
    "SendError",
]
