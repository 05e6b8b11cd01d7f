"""Test helpers, importable from any test as ``helpers.<name>`` (pyproject puts tests/ on pytest's path).

- :mod:`helpers.models`: tiny ONNX generators (no torch) and their numpy reference;
- :mod:`helpers.metrics`: piq as an oracle, smooth noisy image pairs;
- :mod:`helpers.training`: tiny configs and image sets, ISIC-like folders;
- :mod:`helpers.export`: trained tiny checkpoints per architecture;
- :mod:`helpers.dicom`: DICOM files made with pydicom;
- :mod:`helpers.orthanc`: a real Orthanc PACS on free local ports.

Helpers live here, never in a conftest.py (every conftest is a module named ``conftest``, so importing one
depends on which was loaded first).
"""
