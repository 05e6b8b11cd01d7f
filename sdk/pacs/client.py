"""What a PACS client does for :func:`medsynth.pacs.send_folder`, and the failure worth retrying."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from medsynth.pacs.instances import Instance

__all__ = ["Client", "TransientError"]


class TransientError(Exception):
    """A failure that may pass: connection refused or reset, a timeout, HTTP 5xx/429, an aborted association.

    Internal: :func:`medsynth.pacs.send_folder` retries it with backoff, then reports the files as not sent.
    """


class Client(Protocol):
    """A connection to one PACS."""

    def present(self, study: str, series: str) -> set[str] | None:
        """The SOP Instance UIDs of the series that the PACS holds; ``None`` when it cannot tell."""

    def store(self, batch: Sequence[Instance]) -> dict[str, str | None]:
        """Store ``batch``; return SOP Instance UID -> ``None`` (stored) or why it was not stored."""

    def close(self) -> None:
        """Release the connection."""
