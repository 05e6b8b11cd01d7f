"""DIMSE C-STORE (and C-FIND, to skip what the PACS has) with pynetdicom, over one association."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from medsynth._extras import require
from medsynth.errors import SendError
from medsynth.pacs.client import TransientError
from medsynth.pacs.destination import Destination
from medsynth.pacs.instances import Instance

__all__ = ["DimseClient"]

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve Information Model - FIND
_SUCCESS_OR_WARNING = {0x0000, 0xB000, 0xB006, 0xB007}  # PS3.4 B.2.3: warnings mean stored


def _pynetdicom() -> Any:
    module = require("pynetdicom", "pacs", "sending to a dicom:// PACS")
    _close_even_if_shutdown_fails(module.transport.AssociationSocket)
    return module


def _close_even_if_shutdown_fails(socket_class: Any) -> None:
    """Make a failed connect close its socket (pynetdicom <= 3.0.4 leaks it).

    pynetdicom's ``AssociationSocket._shutdown_socket`` calls ``shutdown()`` and then ``close()`` in one
    ``try``. On a socket that never connected (refused, timed out) ``shutdown()`` raises ENOTCONN, so
    ``close()`` is skipped and the file descriptor stays open until the garbage collector finds it. Upstream
    fixed this in pydicom/pynetdicom#999 (not yet released); this applies the same fix once, to that method.
    """
    if getattr(socket_class._shutdown_socket, "_medsynth_closes", False):
        return

    def _shutdown_socket(self: Any) -> None:
        sock = self.socket
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # never connected, or the peer is gone: close it all the same
        try:
            sock.close()
        except OSError:
            pass

    _shutdown_socket._medsynth_closes = True  # type: ignore[attr-defined]
    socket_class._shutdown_socket = _shutdown_socket


class DimseClient:
    """C-STORE to ``dicom://CALLED_AET@host:port`` as ``calling_aet``, Secondary Capture in Explicit VR LE."""

    def __init__(self, destination: Destination, calling_aet: str, timeout: float) -> None:
        pynetdicom = _pynetdicom()
        self._find_class = STUDY_ROOT_FIND
        self._dest = destination
        self._ae = pynetdicom.AE(ae_title=calling_aet)
        self._ae.add_requested_context(SECONDARY_CAPTURE, [EXPLICIT_VR_LITTLE_ENDIAN])
        self._ae.add_requested_context(self._find_class)
        for name in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
            setattr(self._ae, name, timeout)
        self._calling = calling_aet
        self._assoc: Any = None

    def _association(self, first: str) -> Any:
        if self._assoc is not None and self._assoc.is_established:
            return self._assoc
        self.close()
        d = self._dest
        try:
            assoc = self._ae.associate(d.host, d.port, ae_title=d.called_aet)
        except socket.gaierror as exc:
            raise SendError(
                f"{d.url}: cannot resolve the host {d.host!r} ({exc.strerror or exc}); check the host name"
            ) from exc
        except OSError as exc:
            raise TransientError(f"cannot connect to {d.host}:{d.port}: {exc.strerror or exc}") from exc
        if assoc.is_rejected:
            raise SendError(
                f"{d.url} rejected the association (called AE {d.called_aet!r}, calling AE "
                f"{self._calling!r}) while sending {first}; check both AE titles and that the "
                "PACS knows the calling AE"
            )
        if not assoc.is_established:
            raise TransientError(
                f"cannot associate with {d.host}:{d.port} (connection refused, aborted or timed out)"
            )
        if not any(c.abstract_syntax == SECONDARY_CAPTURE for c in assoc.accepted_contexts):
            assoc.release()
            raise SendError(
                f"{d.url} does not accept Secondary Capture Image Storage in Explicit VR Little "
                f"Endian, so it cannot store {first}"
            )
        self._assoc = assoc
        return assoc

    def present(self, study: str, series: str) -> set[str] | None:
        from pydicom.dataset import Dataset

        assoc = self._association(f"the query for series {series}")
        if not any(c.abstract_syntax == self._find_class for c in assoc.accepted_contexts):
            return None
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID = study
        query.SeriesInstanceUID = series
        query.SOPInstanceUID = ""
        found: set[str] = set()
        final = None
        try:
            for status, identifier in assoc.send_c_find(query, self._find_class):
                if "Status" not in status:
                    raise RuntimeError("no status")
                final = int(status.Status)
                if final in (0xFF00, 0xFF01) and identifier is not None and "SOPInstanceUID" in identifier:
                    found.add(str(identifier.SOPInstanceUID))
        except (RuntimeError, OSError):
            # A PACS that does not let this AE query may abort instead of answering: it cannot tell us what it
            # holds, so everything is sent (storing an instance again is harmless). A PACS that is really gone
            # fails the next association, which is retried and reported.
            self.close()
            return None
        return found if final == 0x0000 else None

    def store(self, batch: Sequence[Instance]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for instance in batch:
            if instance.sop_class != SECONDARY_CAPTURE:
                out[instance.sop] = (
                    f"{instance.name}: SOP class {instance.sop_class} is not Secondary Capture"
                )
                continue
            assoc = self._association(instance.name)
            try:
                status = assoc.send_c_store(instance.path)
            except (RuntimeError, OSError) as exc:  # the association went away under us
                self.close()
                raise TransientError(
                    f"{self._dest.url} went away while storing {instance.name}: {exc}"
                ) from exc
            if "Status" not in status:
                self.close()
                raise TransientError(f"{self._dest.url} dropped the connection while storing {instance.name}")
            code = int(status.Status)
            out[instance.sop] = (
                None
                if code in _SUCCESS_OR_WARNING
                else (
                    f"{instance.name}: C-STORE status 0x{code:04X}"
                    + (f" ({status.ErrorComment})" if "ErrorComment" in status else "")
                )
            )
        return out

    def close(self) -> None:
        if self._assoc is not None:
            try:
                if self._assoc.is_established:
                    self._assoc.release()
            finally:
                self._assoc = None
