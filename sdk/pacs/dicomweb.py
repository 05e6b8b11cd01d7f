"""DICOMweb: STOW-RS (multipart/related; type="application/dicom") and QIDO-RS, with the standard library."""

from __future__ import annotations

import http.client
import json
import secrets
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medsynth.errors import SendError
from medsynth.pacs.client import TransientError
from medsynth.pacs.destination import Destination
from medsynth.pacs.instances import Instance

__all__ = ["DicomWebClient"]

_REFERENCED_SOP_SEQUENCE = "00081199"
_FAILED_SOP_SEQUENCE = "00081198"
_REFERENCED_SOP_INSTANCE_UID = "00081155"
_FAILURE_REASON = "00081197"
_SOP_INSTANCE_UID = "00080018"


def _first(item: dict[str, Any], tag: str) -> Any:
    values = (item.get(tag) or {}).get("Value") or [None]
    return values[0]


class DicomWebClient:
    """STOW-RS to ``<root>/studies``, QIDO-RS from ``<root>/studies/{study}/series/{series}/instances``."""

    def __init__(
        self, destination: Destination, authorization: str | None, ca_file: Path | None, timeout: float
    ) -> None:
        self._dest = destination
        self._root = destination.base_url
        self._authorization = authorization
        self._timeout = timeout
        # Certificates are always verified (against the system store, or --ca-file for a hospital's own CA).
        self._context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)

    def _request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None = None,
    ) -> tuple[int, bytes]:
        if self._authorization is not None:
            headers = {**headers, "Authorization": self._authorization}
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            context = self._context if url.lower().startswith("https:") else None
            with urllib.request.urlopen(request, timeout=self._timeout, context=context) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()
            if status in (401, 403):
                raise SendError(
                    f"{self._dest.url} refused the credentials (HTTP {status}); check --user "
                    "USER:PASSWORD or --token"
                ) from exc
            if status in (408, 429) or status >= 500:
                raise TransientError(f"HTTP {status} from {url}") from exc
            return status, text
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                raise SendError(
                    f"{self._dest.url}: the server's TLS certificate does not verify "
                    f"({exc.reason.verify_message}); pass --ca-file with your CA's "
                    "certificate"
                ) from exc
            raise TransientError(f"cannot reach {url}: {exc.reason}") from exc
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise TransientError(f"{url}: {exc or type(exc).__name__}") from exc

    def present(self, study: str, series: str) -> set[str] | None:
        url = f"{self._root}/studies/{study}/series/{series}/instances?includefield={_SOP_INSTANCE_UID}"
        status, body = self._request("GET", url, {"Accept": "application/dicom+json"})
        if status in (204, 404):
            return set()
        if status != 200:
            return None
        try:
            items = json.loads(body) if body.strip() else []
        except ValueError:
            return None
        return {str(_first(item, _SOP_INSTANCE_UID)) for item in items if _first(item, _SOP_INSTANCE_UID)}

    def store(self, batch: Sequence[Instance]) -> dict[str, str | None]:
        boundary = f"medsynth-{secrets.token_hex(12)}"
        parts = []
        for instance in batch:
            parts.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii"))
            parts.append(instance.path.read_bytes())
            parts.append(b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode("ascii"))
        headers = {
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
        }
        status, body = self._request("POST", f"{self._root}/studies", headers, b"".join(parts))
        names = ", ".join(i.name for i in batch[:3]) + (" ..." if len(batch) > 3 else "")
        if status not in (200, 202, 409):
            text = body[:200].decode("utf-8", "replace").strip()
            return {i.sop: f"{i.name}: STOW-RS HTTP {status} {text}".strip() for i in batch}
        try:
            answer = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            raise SendError(
                f"{self._dest.url} answered STOW-RS for {names} with something that is not "
                "DICOM JSON; is the URL the DICOMweb root?"
            ) from exc
        stored = {
            _first(item, _REFERENCED_SOP_INSTANCE_UID)
            for item in (answer.get(_REFERENCED_SOP_SEQUENCE) or {}).get("Value") or []
        }
        failed = {
            _first(item, _REFERENCED_SOP_INSTANCE_UID): _first(item, _FAILURE_REASON)
            for item in (answer.get(_FAILED_SOP_SEQUENCE) or {}).get("Value") or []
        }
        out: dict[str, str | None] = {}
        for instance in batch:
            if instance.sop in stored:
                out[instance.sop] = None
            elif instance.sop in failed:
                reason = failed[instance.sop]
                code = f"0x{reason:04X}" if isinstance(reason, int) else str(reason)
                out[instance.sop] = f"{instance.name}: STOW-RS failure reason {code}"
            else:
                out[instance.sop] = (
                    None
                    if status == 200 and not stored
                    else (f"{instance.name}: not in the PACS's STOW-RS response (HTTP {status})")
                )
        return out

    def close(self) -> None:
        """Nothing to release: every request is its own connection."""
