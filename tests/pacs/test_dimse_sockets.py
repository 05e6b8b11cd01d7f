"""A refused DIMSE connection closes its socket (pynetdicom <= 3.0.4 left it to the garbage collector)."""

from __future__ import annotations

import gc
import socket
import warnings

import pytest

from medsynth.pacs import parse_destination
from medsynth.pacs.client import TransientError

pytest.importorskip("pynetdicom")


def _refused_port() -> int:
    with socket.socket() as sock:  # bind, read the port, close: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_association_leaks_no_socket():
    from medsynth.pacs.dimse import DimseClient

    destination = parse_destination(f"dicom://ORTHANC@127.0.0.1:{_refused_port()}")
    client = DimseClient(destination, "MEDSYNTH", timeout=5.0)
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            with pytest.raises(TransientError, match="cannot associate with 127.0.0.1"):
                client._association("x.dcm")
        client.close()
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]
