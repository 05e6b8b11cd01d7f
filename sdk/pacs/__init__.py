"""Deliver synthetic DICOM studies to a PACS: DIMSE C-STORE (pynetdicom, ``medsynth[pacs]``) or DICOMweb
STOW-RS (standard library). ``medsynth send FOLDER --to URL`` is the command line of :func:`send_folder`;
:class:`StreamingSender` sends a run's files while it writes them (``medsynth generate --send URL``)."""

from medsynth.pacs.destination import Destination, parse_destination
from medsynth.pacs.send import SendReport, send_folder
from medsynth.pacs.stream import StreamingSender

__all__ = ["send_folder", "StreamingSender", "SendReport", "parse_destination", "Destination"]
