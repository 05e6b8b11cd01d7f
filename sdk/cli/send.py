"""``medsynth send FOLDER --to URL``: deliver a run folder's DICOM files to a PACS (C-STORE or STOW-RS)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from medsynth.errors import SendError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from medsynth.pacs.send import SendReport

__all__ = ["send", "pacs_options", "send_and_report", "print_report"]

DEFAULT_RETRIES = 3


def pacs_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The connection options shared by ``medsynth send`` and ``medsynth generate --send``."""
    options = [
        click.option(
            "--calling-aet",
            default="MEDSYNTH",
            show_default=True,
            help="Our AE title for dicom:// destinations (the PACS must know it).",
        ),
        click.option(
            "--user",
            default=None,
            envvar="MEDSYNTH_PACS_USER",
            metavar="USER:PASSWORD",
            help="HTTP Basic credentials for http(s):// (or $MEDSYNTH_PACS_USER).",
        ),
        click.option(
            "--token",
            default=None,
            envvar="MEDSYNTH_PACS_TOKEN",
            help="Bearer token for http(s):// (or $MEDSYNTH_PACS_TOKEN).",
        ),
        click.option(
            "--ca-file",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            default=None,
            help="PEM certificate of the CA that signed the server's (https; always verified).",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            default=DEFAULT_RETRIES,
            show_default=True,
            help="Retries of a transient failure, after 1, 2, 4 ... seconds.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def send_and_report(
    folder: Path,
    to: str,
    *,
    calling_aet: str,
    user: str | None,
    token: str | None,
    ca_file: Path | None,
    retries: int,
    per_request: int = 16,
    quiet: bool = False,
) -> None:
    """Send, print the report, and end with one ``Error:`` line (exit 2) if any file was not stored."""
    from tqdm import tqdm

    from medsynth.pacs.send import send_folder

    bars: list[tqdm] = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(
                tqdm(
                    total=total,
                    unit="file",
                    file=sys.stderr,
                    disable=quiet,
                    dynamic_ncols=True,
                    desc=f"send -> {to}",
                )
            )
        bars[0].update(done - bars[0].n)

    try:
        report = send_folder(
            folder,
            to,
            calling_aet=calling_aet,
            user=user,
            token=token,
            ca_file=ca_file,
            per_request=per_request,
            retries=retries,
            progress=progress,
        )
    finally:
        for bar in bars:
            bar.close()
    print_report(report, to)


def print_report(report: SendReport, to: str) -> None:
    """Print the report's line and the files not stored; end with one ``Error:`` line (exit 2) if any."""
    click.echo(report.summary())
    for name, why in report.failed[:20]:
        click.echo(f"  not stored: {name}: {why}", err=True)
    if len(report.failed) > 20:
        click.echo(f"  ... and {len(report.failed) - 20} more", err=True)
    if report.failed:
        total = len(report.sent) + len(report.present) + len(report.failed)
        raise SendError(
            f"{len(report.failed)} of {total} files are not in {to}; run the same command again "
            "to send only those"
        )


@click.command(name="send")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--to",
    "to",
    required=True,
    metavar="URL",
    help="dicom://CALLED_AET@host:port (DIMSE C-STORE) or http(s)://host/dicom-web (STOW-RS).",
)
@pacs_options
@click.option(
    "--per-request",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Files per STOW-RS request.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def send(
    folder: Path,
    to: str,
    calling_aet: str,
    user: str | None,
    token: str | None,
    ca_file: Path | None,
    retries: int,
    per_request: int,
    quiet: bool,
) -> None:
    """Send the DICOM files of FOLDER (made by medsynth generate --format dcm) to a PACS.

    Files the PACS already holds are skipped, so re-running sends only what is missing; nothing is deleted.
    Prints sent / already present / failed; exits 2 if any file is not stored.

    \b
    Examples:
      medsynth send synthetic --to dicom://ORTHANC@pacs.example.org:4242
      medsynth send synthetic --to https://pacs.example.org/dicom-web --user me:secret
    """
    send_and_report(
        folder,
        to,
        calling_aet=calling_aet,
        user=user,
        token=token,
        ca_file=ca_file,
        retries=retries,
        per_request=per_request,
        quiet=quiet,
    )
