"""Where ``medsynth send`` delivers: a DIMSE peer (``dicom://AET@host:port``) or a DICOMweb root (``http(s)://``)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import urlsplit

from medsynth.errors import ArgumentError

__all__ = ["Destination", "parse_destination", "auth_header", "DEFAULT_CALLING_AET", "DIMSE_DEFAULT_PORT"]

DEFAULT_CALLING_AET = "MEDSYNTH"
DIMSE_DEFAULT_PORT = 104


def _check_aet(value: str, what: str) -> str:
    if not value or len(value) > 16 or "\\" in value or not value.isascii() or not value.strip():
        raise ArgumentError(
            f"{what} {value!r} is not a DICOM AE title (1 to 16 ASCII characters, no backslash)"
        )
    return value


@dataclass(frozen=True)
class Destination:
    """A parsed ``--to`` URL."""

    url: str  # as given, for reports (never holds a password: credentials come from --user / --token)
    kind: str  # "dimse" or "dicomweb"
    host: str = ""  # dimse: the peer's host
    port: int = 0  # dimse: the peer's port
    called_aet: str = ""  # dimse: the peer's AE title
    base_url: str = ""  # dicomweb: the DICOMweb root, no trailing slash


def parse_destination(url: str) -> Destination:
    """Parse ``dicom://CALLED_AET@host:port`` or ``http(s)://host[:port]/path-to/dicom-web``.

    Parameters
    ----------
    url
        The destination.

    Returns
    -------
    Destination
        What to connect to.

    Raises
    ------
    ArgumentError
        Another scheme, a missing host or AE title, a bad port, or credentials written into the URL.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise ArgumentError(f"--to {url!r}: bad port ({exc})") from exc
    if scheme == "dicom":
        if not parts.username or not parts.hostname:
            raise ArgumentError(
                f"--to {url!r}: a DIMSE destination is dicom://CALLED_AET@host:port, e.g. "
                "dicom://ORTHANC@pacs.example.org:4242"
            )
        if parts.password is not None:
            raise ArgumentError(f"--to {url!r}: dicom:// URLs carry an AE title, not a password")
        return Destination(
            url=url,
            kind="dimse",
            host=parts.hostname,
            port=port or DIMSE_DEFAULT_PORT,
            called_aet=_check_aet(parts.username, "called AE title"),
        )
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ArgumentError(f"--to {url!r}: no host; e.g. https://pacs.example.org/dicom-web")
        if parts.username or parts.password:
            raise ArgumentError(
                f"--to {url!r}: do not put credentials in the URL (they end up in logs); "
                "use --user USER:PASSWORD or --token"
            )
        return Destination(url=url, kind="dicomweb", base_url=url.rstrip("/"))
    raise ArgumentError(
        f"--to {url!r}: use dicom://AET@host:port (DIMSE C-STORE) or "
        "http(s)://host/dicom-web (DICOMweb STOW-RS)"
    )


def auth_header(user: str | None, token: str | None) -> str | None:
    """The HTTP Authorization header for ``--user USER:PASSWORD`` or ``--token``.

    Raises
    ------
    ArgumentError
        Both given, or a user without ``:PASSWORD``.
    """
    if user is not None and token is not None:
        raise ArgumentError("give --user or --token, not both")
    if token is not None:
        return f"Bearer {token}"
    if user is not None:
        if ":" not in user:
            raise ArgumentError("--user takes USER:PASSWORD")
        return "Basic " + base64.b64encode(user.encode("utf-8")).decode("ascii")
    return None
