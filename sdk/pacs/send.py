"""Send a run folder's DICOM files to a PACS: skip what it has, retry what may pass, report every file."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from medsynth._checks import MAX_COUNT, check_int
from medsynth.errors import ArgumentError, SendError
from medsynth.pacs.client import Client, TransientError
from medsynth.pacs.destination import DEFAULT_CALLING_AET, Destination, auth_header, parse_destination
from medsynth.pacs.instances import Instance, run_instances

__all__ = ["SendReport", "send_folder", "send_instances"]

T = TypeVar("T")


@dataclass
class SendReport:
    """What :func:`send_folder` did, file by file (manifest paths)."""

    destination: str  # the --to URL
    sent: list[str] = field(default_factory=list)  # stored by this call
    present: list[str] = field(default_factory=list)  # already in the PACS, not sent again
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, why) not stored
    unreachable: str | None = None  # why the PACS stopped answering, if it did; the rest were not tried

    @property
    def ok(self) -> bool:
        """Every file is in the PACS."""
        return not self.failed

    def summary(self) -> str:
        """One line: counts and where."""
        line = (
            f"{len(self.sent)} sent, {len(self.present)} already present, {len(self.failed)} failed "
            f"({len(self.sent) + len(self.present) + len(self.failed)} files) -> {self.destination}"
        )
        if self.unreachable:
            line += f"; the PACS stopped answering ({self.unreachable})"
        return line


def _client(
    destination: Destination,
    calling_aet: str,
    user: str | None,
    token: str | None,
    ca_file: Path | None,
    timeout: float,
) -> Client:
    if destination.kind == "dimse":
        if user is not None or token is not None:
            raise ArgumentError(
                "--user and --token (or $MEDSYNTH_PACS_USER / $MEDSYNTH_PACS_TOKEN) are for "
                "http(s):// DICOMweb destinations; a dicom:// PACS admits by AE title"
            )
        from medsynth.pacs.dimse import DimseClient

        return DimseClient(destination, calling_aet, timeout)
    from medsynth.pacs.dicomweb import DicomWebClient

    return DicomWebClient(destination, auth_header(user, token), ca_file, timeout)


def _retrying(action: Callable[[], T], retries: int, backoff: float, sleep: Callable[[float], None]) -> T:
    """Run ``action``; on a transient failure wait ``backoff * 2**k`` s and try again, ``retries`` times."""
    for attempt in range(retries + 1):
        try:
            return action()
        except TransientError:
            if attempt == retries:
                raise
            sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _check_counts(per_request: int, retries: int) -> None:
    check_int("files per request", per_request, low=1, high=MAX_COUNT)
    check_int("retries", retries, low=0, high=MAX_COUNT)


class _Delivery:
    """Sends instances over one client: remembers what each series holds, retries, fills one report."""

    def __init__(
        self,
        client: Client,
        to: str,
        per_request: int,
        retries: int,
        backoff: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.report = SendReport(destination=to)
        self._per_request, self._retries, self._backoff, self._sleep = per_request, retries, backoff, sleep
        self._held: dict[tuple[str, str], set[str] | None] = {}

    def ask(self, instances: Sequence[Instance]) -> None:
        """Ask the PACS which instances it holds of each series not asked about yet.

        Raises
        ------
        TransientError
            The PACS did not answer, retries included.
        """
        for key in dict.fromkeys((i.study, i.series) for i in instances):
            if key not in self._held:
                self._held[key] = _retrying(
                    partial(self.client.present, *key), self._retries, self._backoff, self._sleep
                )

    def missing(self, instances: Sequence[Instance]) -> list[Instance]:
        """Report those the PACS holds (asked about first) as present; return the others."""
        todo = []
        for instance in instances:
            found = self._held[(instance.study, instance.series)]
            if found is not None and instance.sop in found:
                self.report.present.append(instance.name)
            else:
                todo.append(instance)
        return todo

    def give_up(self, instances: Sequence[Instance], why: str) -> None:
        """Report ``instances`` as not sent because the PACS stopped answering (``why``)."""
        self.report.unreachable = self.report.unreachable or why
        self.report.failed += [(i.name, f"not sent: {self.report.unreachable}") for i in instances]

    def store(self, todo: Sequence[Instance], progress: Callable[[int], None] | None = None) -> bool:
        """Store ``todo`` in requests of ``per_request`` files; return False if the PACS stopped answering
        (the unsent rest is then reported as failed).

        Raises
        ------
        SendError
            The PACS refused the credentials or the association.
        """
        for first in range(0, len(todo), self._per_request):
            batch = todo[first : first + self._per_request]
            try:
                outcome = _retrying(
                    partial(self.client.store, batch), self._retries, self._backoff, self._sleep
                )
            except TransientError as exc:
                self.give_up(todo[first:], str(exc))
                return False
            except SendError as exc:
                sent = len(self.report.sent)
                raise SendError(f"{exc} after {sent} files were sent" if sent else str(exc)) from exc
            for instance in batch:
                why = outcome.get(instance.sop, f"{instance.name}: no answer from the PACS")
                if why is None:
                    self.report.sent.append(instance.name)
                else:
                    self.report.failed.append((instance.name, why))
            if progress is not None:
                progress(min(first + self._per_request, len(todo)))
        return True


def send_instances(
    instances: Sequence[Instance],
    to: str,
    *,
    calling_aet: str = DEFAULT_CALLING_AET,
    user: str | None = None,
    token: str | None = None,
    ca_file: Path | None = None,
    per_request: int = 16,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 30.0,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """Send ``instances`` to ``to``, skipping those the PACS already holds. See :func:`send_folder`."""
    _check_counts(per_request, retries)
    destination = parse_destination(to)
    delivery = _Delivery(
        _client(destination, calling_aet, user, token, ca_file, timeout),
        to,
        per_request,
        retries,
        backoff,
        sleep,
    )
    try:
        try:
            delivery.ask(instances)
        except TransientError as exc:
            raise SendError(f"cannot reach {to}: {exc}; nothing was sent, try again when it is up") from exc
        todo = delivery.missing(instances)
        delivery.store(todo, None if progress is None else lambda done: progress(done, len(todo)))
    finally:
        delivery.client.close()
    return delivery.report


def send_folder(
    folder: Path,
    to: str,
    *,
    calling_aet: str = DEFAULT_CALLING_AET,
    user: str | None = None,
    token: str | None = None,
    ca_file: Path | None = None,
    per_request: int = 16,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 30.0,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """Send the DICOM files of a ``medsynth generate --format dcm`` folder to a PACS.

    The PACS is asked first which instances of each series it already holds (C-FIND at IMAGE level, or
    QIDO-RS); those are reported as already present and not sent again, so a re-run sends only what is
    missing. Nothing is ever deleted or changed locally.

    Parameters
    ----------
    folder
        The run folder (its ``manifest.csv`` lists the files).
    to
        ``dicom://CALLED_AET@host:port`` (DIMSE C-STORE) or ``http(s)://host[:port]/dicom-web`` (STOW-RS).
    calling_aet
        Our AE title for DIMSE.
    user, token
        DICOMweb credentials: ``"USER:PASSWORD"`` (HTTP Basic) or a bearer token.
    ca_file
        PEM file of the CA that signed the server's certificate (https); certificates are always verified.
    per_request
        Files per STOW-RS request (DIMSE sends them one by one over one association).
    retries, backoff
        A transient failure (refused or dropped connection, timeout, HTTP 5xx/429) is retried ``retries``
        times after ``backoff``, ``2 * backoff``, ``4 * backoff`` ... seconds; then the rest is reported as
        not sent.
    timeout
        Seconds to wait for the network at each step.
    progress
        Called as ``progress(done, total)`` after each request, over the files to send.
    sleep
        The wait between retries (tests pass a fake).

    Returns
    -------
    SendReport
        Sent, already present and failed files.

    Raises
    ------
    DataError
        The folder is not a DICOM run folder.
    ArgumentError
        A bad URL, AE title or option.
    SendError
        The PACS cannot be reached at all, refuses the association or the credentials, or its TLS certificate
        does not verify.
    MissingExtraError
        A dicom:// destination without pynetdicom installed.
    """
    return send_instances(
        run_instances(folder),
        to,
        calling_aet=calling_aet,
        user=user,
        token=token,
        ca_file=ca_file,
        per_request=per_request,
        retries=retries,
        backoff=backoff,
        timeout=timeout,
        progress=progress,
        sleep=sleep,
    )
