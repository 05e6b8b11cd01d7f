"""Deliver synthetic DICOM studies to a PACS: DIMSE C-STORE (pynetdicom, ``medsynth[pacs]``) or DICOMweb
STOW-RS (standard library). ``medsynth send FOLDER --to URL`` is the command line of :func:`send_folder`."""

from medsynth.pacs.destination import Destination, parse_destination
from medsynth.pacs.send import SendReport, send_folder

__all__ = ["send_folder", "SendReport", "parse_destination", "Destination"]
