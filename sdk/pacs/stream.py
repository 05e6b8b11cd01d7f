"""Send a run's DICOM files while the run is still writing them: a bounded queue and one sender thread.

``medsynth generate --format dcm --send URL`` hands each batch of files to :meth:`StreamingSender.submit`
as soon as the batch is written (``write_run(..., published=sender.submit)``); the sender thread stores it
in the PACS while the next batch is generated. Sending is network-bound, so the one thread costs the
generation almost no CPU. The queue holds at most ``max_pending`` batches of file names: a PACS slower than
the generation slows the generation down instead of letting the backlog grow without bound.

The guarantees are those of :func:`medsynth.pacs.send_folder`: what the PACS already holds is reported as
present and not sent again (so a re-run of the same command sends only what is missing), transient failures
are retried with backoff, nothing is deleted locally, and a PACS that goes away midway ends in a report
(the files it did not get are listed as failed; the rest of the run is still written). A refused password or
association stops the run at the next batch: every file written so far stays, and a re-run resumes.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from medsynth._checks import MAX_COUNT, check_int
from medsynth.errors import SendError
from medsynth.pacs.client import TransientError
from medsynth.pacs.destination import DEFAULT_CALLING_AET, parse_destination
from medsynth.pacs.instances import read_instance
from medsynth.pacs.send import SendReport, _check_counts, _client, _Delivery

__all__ = ["StreamingSender"]

_POLL_S = 0.1  # how often a blocked submit looks whether the sender thread has failed


class StreamingSender:
    """Sends the files of a run folder from a background thread, batch by batch, as they are published.

    Use it as a context manager around the run, and call :meth:`finish` for the report::

        with StreamingSender(out, "dicom://ORTHANC@pacs:4242") as sender:
            write_run(generator, plan, out, fmt="dcm", published=sender.submit)
            report = sender.finish()

    Parameters
    ----------
    folder
        The run folder; submitted names are relative to it.
    to
        ``dicom://CALLED_AET@host:port`` or ``http(s)://host[:port]/dicom-web``.
    calling_aet, user, token, ca_file, per_request, retries, backoff, timeout
        As for :func:`medsynth.pacs.send_folder`.
    max_pending
        Batches that may wait to be sent; :meth:`submit` blocks while the queue is full.
    progress
        Called on the sender thread as ``progress(done, submitted)`` after each request: files handled
        (sent, present or failed) of those submitted so far.
    sleep
        The wait between retries (tests pass a fake); by default a wait that :meth:`close` cuts short.

    Raises
    ------
    ArgumentError
        A bad URL, AE title or option (before anything is sent or generated).
    MissingExtraError
        A dicom:// destination without pynetdicom installed.
    """

    def __init__(
        self,
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
        max_pending: int = 4,
        progress: Callable[[int, int], None] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        _check_counts(per_request, retries)
        check_int("max_pending", max_pending, low=1, high=MAX_COUNT)
        destination = parse_destination(to)
        self._folder = folder
        self._to = to
        self._stop = threading.Event()  # set by close(): drop what is queued, cut retry waits short
        self._delivery = _Delivery(
            _client(destination, calling_aet, user, token, ca_file, timeout),
            to,
            per_request,
            retries,
            backoff,
            sleep or self._wait,
        )
        self._progress = progress
        self._queue: queue.Queue[list[str] | None] = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._submitted = 0
        self._handled = 0
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="medsynth-sender", daemon=True)
        self._thread.start()

    def __enter__(self) -> StreamingSender:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, names: Sequence[str]) -> None:
        """Queue published files (paths relative to the folder) to be sent; blocks while the queue is full.

        Raises
        ------
        SendError
            The PACS refused the credentials or the association (raised here, at the next batch, so that
            the run stops early), or the sender was closed.
        DataError
            A submitted file is not readable DICOM.
        """
        if self._finished:
            raise SendError("this StreamingSender has finished; start another to send more")
        self._check()
        self._submitted += len(names)  # before the put: progress never sees more handled than submitted
        while True:
            try:
                self._queue.put(list(names), timeout=_POLL_S)
                break
            except queue.Full:
                self._check()
        self._check()  # it may have ended between the check above and the put

    def finish(self) -> SendReport:
        """Wait until every submitted file is handled and return the report.

        Returns
        -------
        SendReport
            Sent, already present and failed files, in the order submitted.

        Raises
        ------
        SendError
            Refused credentials or association; or a PACS that could not be reached at all (nothing was
            sent).
        DataError
            A submitted file is not readable DICOM.
        """
        if not self._finished:
            self._finished = True
            self._end()
        self._check()
        report = self._delivery.report
        if report.unreachable and not report.sent and not report.present:
            raise SendError(
                f"cannot reach {self._to}: {report.unreachable}; nothing was sent (the "
                f"{len(report.failed)} files are in {self._folder}); run the same command again "
                "when it is up"
            )
        return report

    def close(self) -> None:
        """Stop now: drop the queued batches and end the thread (after the request in flight, if any)."""
        if self._thread.is_alive():
            self._stop.set()
            self._finished = True
            self._end()

    def _end(self) -> None:
        """Queue the end mark (unless the thread has already ended) and wait for the thread."""
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=_POLL_S)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _run(self) -> None:
        try:
            while (names := self._queue.get()) is not None:
                if not self._stop.is_set():
                    self._send(names)
        except BaseException as exc:  # handed to the submitting thread by submit() and finish()
            # An OSError would read as the run's own write failure there: name the PACS instead.
            failed = SendError(f"sending to {self._to} failed: {exc}") if isinstance(exc, OSError) else None
            self._error = failed or exc  # and the thread ends: submit() and finish() see it
        finally:
            with contextlib.suppress(OSError, RuntimeError):  # a PACS already gone: nothing left to release
                self._delivery.client.close()

    def _done(self, count: int) -> None:
        self._handled += count
        if count and self._progress is not None:
            self._progress(self._handled, self._submitted)

    def _send(self, names: Sequence[str]) -> None:
        delivery = self._delivery
        instances = [read_instance(self._folder, name) for name in names]
        if delivery.report.unreachable:  # it went away after its retries: the rest is not tried
            delivery.give_up(instances, delivery.report.unreachable)
            self._done(len(instances))
            return
        try:
            delivery.ask(instances)
        except TransientError as exc:
            delivery.give_up(instances, str(exc))
            self._done(len(instances))
            return
        todo = delivery.missing(instances)
        self._done(len(instances) - len(todo))
        handled = 0

        def stored(done: int) -> None:
            nonlocal handled
            self._done(done - handled)
            handled = done

        if not delivery.store(todo, stored):
            self._done(len(todo) - handled)
