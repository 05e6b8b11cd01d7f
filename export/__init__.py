"""medsynth.export: a PyTorch training checkpoint -> a self-describing, verified ONNX generator.

>>> from medsynth.export import export_checkpoint
>>> report = export_checkpoint("runs/isic64", "isic2017-64.onnx", name="isic2017-64")  # doctest: +SKIP
>>> report.parity.max_error < 1e-4                                                       # doctest: +SKIP
True

Needs the ``train`` extra (torch, onnx, onnxscript). See docs/export.md.
"""

from medsynth.export.exporter import ExportReport, export_checkpoint
from medsynth.export.onnx_export import IR_VERSION, OPSET
from medsynth.export.parity import FP16_TOLERANCE, FP32_TOLERANCE, ParityResult

__all__ = [
    "export_checkpoint",
    "ExportReport",
    "ParityResult",
    "OPSET",
    "IR_VERSION",
    "FP32_TOLERANCE",
    "FP16_TOLERANCE",
]
