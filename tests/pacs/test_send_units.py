"""medsynth send without a PACS: URLs, credentials, retries and reports against a fake client."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from medsynth import Generator
from medsynth.cli import main
from medsynth.errors import ArgumentError, DataError, MissingExtraError, SendError
from medsynth.pacs import StreamingSender, parse_destination
from medsynth.pacs import send as send_module
from medsynth.pacs import stream as stream_module
from medsynth.pacs.client import TransientError
from medsynth.pacs.destination import auth_header
from medsynth.pacs.instances import Instance, run_instances
from medsynth.writers.run import write_run


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_destinations():
    d = parse_destination("dicom://ORTHANC@pacs.example.org:4242")
    assert (d.kind, d.called_aet, d.host, d.port) == ("dimse", "ORTHANC", "pacs.example.org", 4242)
    assert parse_destination("dicom://PACS@10.0.0.1").port == 104
    web = parse_destination("https://pacs.example.org:8443/dicom-web/")
    assert (web.kind, web.base_url) == ("dicomweb", "https://pacs.example.org:8443/dicom-web")
    for bad, match in [
        ("dicom://pacs:104", "dicom://CALLED_AET@host:port"),
        ("dicom://A-VERY-LONG-AE-TITLE-X@h:1", "not a DICOM AE title"),
        ("https://me:pw@pacs/dicom-web", "do not put credentials in the URL"),
        ("ftp://pacs/x", "use dicom://AET@host:port"),
        ("dicom://A@h:99999", "bad port"),
    ]:
        with pytest.raises(ArgumentError, match=match):
            parse_destination(bad)


def test_credentials():
    assert auth_header("me:pa:ss", None) == "Basic bWU6cGE6c3M="  # base64 of me:pa:ss
    assert auth_header(None, "t0k") == "Bearer t0k" and auth_header(None, None) is None
    with pytest.raises(ArgumentError, match="USER:PASSWORD"):
        auth_header("me", None)
    with pytest.raises(ArgumentError, match="not both"):
        auth_header("me:pw", "t")


class FakeClient:
    """A PACS that holds ``held``, fails ``store`` transiently ``flaky`` times, and rejects ``refuse``."""

    def __init__(self, held=(), flaky=0, refuse=(), dies_after=None, denies=False):
        self.held, self.flaky, self.refuse, self.dies_after = set(held), flaky, set(refuse), dies_after
        self.stored, self.closed, self.denies, self.denied = [], False, denies, threading.Event()

    def present(self, study, series):
        if self.denies:
            self.denied.set()
            raise SendError("http://pacs refused the credentials (HTTP 401)")
        if self.dies_after == 0:
            raise TransientError("connection refused")
        return set(self.held)  # a superset of the series' instances is harmless

    def store(self, batch):
        if self.dies_after is not None and len(self.stored) >= self.dies_after:
            raise TransientError("connection refused")
        if self.flaky:
            self.flaky -= 1
            raise TransientError("HTTP 503")
        self.stored += [i.sop for i in batch if i.sop not in self.refuse]
        return {i.sop: (f"{i.name}: C-STORE status 0xA700" if i.sop in self.refuse else None) for i in batch}

    def close(self):
        self.closed = True


def instances(n):
    return [
        Instance(
            path=Path(f"/x/{k}.dcm"),
            name=f"c/{k}.dcm",
            study="1.2",
            series="1.2.3",
            sop=f"1.2.3.{k}",
            sop_class="1.2.840.10008.5.1.4.1.1.7",
        )
        for k in range(n)
    ]


@pytest.fixture
def fake(monkeypatch):
    box = {}

    def make(**kwargs):
        box["client"] = FakeClient(**kwargs)
        monkeypatch.setattr(send_module, "_client", lambda *args: box["client"])
        monkeypatch.setattr(stream_module, "_client", lambda *args: box["client"])
        return box["client"]

    return make


def test_skips_what_is_present_and_retries_with_backoff(fake):
    client = fake(held={"1.2.3.0", "1.2.3.4"}, flaky=2)
    waits = []
    report = send_module.send_instances(
        instances(6), "dicom://A@h:1", per_request=3, backoff=0.5, sleep=waits.append
    )
    assert report.present == ["c/0.dcm", "c/4.dcm"]
    assert report.sent == ["c/1.dcm", "c/2.dcm", "c/3.dcm", "c/5.dcm"]
    assert waits == [0.5, 1.0] and client.closed and report.ok
    assert report.summary() == "4 sent, 2 already present, 0 failed (6 files) -> dicom://A@h:1"


def test_status_failures_name_the_file_and_the_rest_goes_on(fake):
    fake(refuse={"1.2.3.1"})
    report = send_module.send_instances(instances(3), "dicom://A@h:1", sleep=lambda s: None)
    assert report.sent == ["c/0.dcm", "c/2.dcm"]
    assert report.failed == [("c/1.dcm", "c/1.dcm: C-STORE status 0xA700")]


def test_a_pacs_that_dies_is_reported_not_raised(fake):
    fake(dies_after=2)
    waits = []
    report = send_module.send_instances(
        instances(5), "dicom://A@h:1", per_request=2, retries=3, backoff=1, sleep=waits.append
    )
    assert report.sent == ["c/0.dcm", "c/1.dcm"] and [n for n, _ in report.failed] == [
        "c/2.dcm",
        "c/3.dcm",
        "c/4.dcm",
    ]
    assert waits == [1, 2, 4] and report.unreachable == "connection refused"
    assert "the PACS stopped answering (connection refused)" in report.summary()


def test_send_refuses_folders_that_are_not_dicom_runs(tmp_path, tiny_model):
    with pytest.raises(DataError, match="has no manifest.csv"):
        run_instances(tmp_path)
    out = tmp_path / "png"
    assert (
        run(
            "generate", "--model", tiny_model, "--class", "nevus", "--n", 1, "--out", out, "--quiet"
        ).exit_code
        == 0
    )
    result = run("send", out, "--to", "dicom://A@127.0.0.1:1")
    assert result.exit_code == 2 and result.stderr.startswith("Error: ") and "not DICOM" in result.stderr


def test_generate_send_needs_dcm_and_a_good_url(tmp_path, tiny_model):
    out = tmp_path / "out"
    result = run(
        "generate",
        "--model",
        tiny_model,
        "--class",
        "nevus",
        "--n",
        1,
        "--out",
        out,
        "--send",
        "dicom://A@h:1",
    )
    assert result.exit_code == 2 and "--send needs --format dcm" in result.stderr and not out.exists()
    result = run(
        "generate",
        "--model",
        tiny_model,
        "--class",
        "nevus",
        "--n",
        1,
        "--out",
        out,
        "--format",
        "dcm",
        "--send",
        "dicom://h:1",
    )
    assert result.exit_code == 2 and "CALLED_AET" in result.stderr and not out.exists()


def test_user_and_token_are_for_dicomweb(tmp_path):
    with pytest.raises(ArgumentError, match="for http"):
        send_module._client(parse_destination("dicom://A@h:1"), "MEDSYNTH", "u:p", None, None, 1.0)


def test_missing_pynetdicom_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynetdicom", None)
    from medsynth.pacs.dimse import DimseClient

    with pytest.raises(MissingExtraError, match=r'pip install "medsynth\[pacs\]"'):
        DimseClient(parse_destination("dicom://A@h:1"), "MEDSYNTH", 1.0)


def test_unreachable_dicomweb_is_a_send_error(tmp_path, tiny_model):
    from helpers.orthanc import free_port

    out = tmp_path / "run"
    assert (
        run(
            "generate",
            "--model",
            tiny_model,
            "--class",
            "nevus",
            "--n",
            1,
            "--out",
            out,
            "--format",
            "dcm",
            "--quiet",
        ).exit_code
        == 0
    )
    with pytest.raises(SendError, match="cannot reach .*nothing was sent"):
        send_module.send_folder(
            out, f"http://127.0.0.1:{free_port()}/dicom-web", retries=1, sleep=lambda s: None
        )


def test_cli_report_when_the_pacs_goes_away(tmp_path, tiny_model, fake):
    out = tmp_path / "run"
    assert (
        run(
            "generate",
            "--model",
            tiny_model,
            "--class",
            "nevus",
            "--n",
            4,
            "--out",
            out,
            "--format",
            "dcm",
            "--quiet",
        ).exit_code
        == 0
    )
    fake(dies_after=2)
    # --retries 1: one wait of 1 s before the remaining files are reported as not sent.
    result = run("send", out, "--to", "dicom://A@h:1", "--per-request", 2, "--retries", 1, "--quiet")
    assert result.exit_code == 2
    assert result.stdout.strip() == (
        "2 sent, 0 already present, 2 failed (4 files) -> dicom://A@h:1; the "
        "PACS stopped answering (connection refused)"
    )
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        "  not stored: nevus/nevus_000002.dcm: not sent: connection refused",
        "  not stored: nevus/nevus_000003.dcm: not sent: connection refused",
    ]
    assert lines[2:] == [
        "Error: 2 of 4 files are not in dicom://A@h:1; run the same command again to send only those"
    ]


def run_with_sender(out, tiny_model, n=6, **options):
    """A --format dcm run of ``n`` nevus images whose batches of 2 go to a StreamingSender; its report."""
    with StreamingSender(out, "dicom://A@h:1", **options) as sender:
        write_run(
            Generator.load(tiny_model, device="cpu"),
            {"nevus": n},
            out,
            fmt="dcm",
            batch_size=2,
            published=sender.submit,
        )
        return sender.finish()


def test_streaming_sender_skips_what_is_present_and_retries(tmp_path, tiny_model, fake):
    out = tmp_path / "run"
    fake()
    first = run_with_sender(out, tiny_model, sleep=lambda s: None)
    uids = [i.sop for i in run_instances(out)]
    assert first.sent == [f"nevus/nevus_{k:06d}.dcm" for k in range(6)] and first.ok
    # A re-run over the same folder: the files are kept, and what the PACS holds is not sent again.
    client = fake(held=uids[:4], flaky=1)
    waits = []
    again = run_with_sender(out, tiny_model, backoff=0.25, sleep=waits.append)
    assert again.present == first.sent[:4] and again.sent == first.sent[4:] and waits == [0.25]
    assert client.stored == uids[4:] and client.closed


def test_streaming_sender_a_pacs_that_dies_midway_is_reported(tmp_path, tiny_model, fake):
    fake(dies_after=2)
    waits = []
    report = run_with_sender(tmp_path / "run", tiny_model, per_request=2, retries=2, sleep=waits.append)
    assert len(report.sent) == 2 and [n for n, _ in report.failed] == [
        f"nevus/nevus_{k:06d}.dcm" for k in range(2, 6)
    ]
    assert waits == [1.0, 2.0]  # one round of retries; the batches after it are not tried
    assert report.unreachable == "connection refused"
    assert len(list((tmp_path / "run" / "nevus").glob("*.dcm"))) == 6  # the run itself completed


def test_streaming_sender_an_unreachable_pacs_is_a_send_error(tmp_path, tiny_model, fake):
    fake(dies_after=0)
    with pytest.raises(
        SendError,
        match=r"cannot reach dicom://A@h:1: connection refused; nothing was sent "
        r"\(the 6 files are in",
    ):
        run_with_sender(tmp_path / "run", tiny_model, retries=0)
    assert (tmp_path / "run" / "manifest.csv").is_file()


def test_streaming_sender_refused_credentials_stop_the_submitter(tmp_path, tiny_model, fake):
    out = tmp_path / "run"
    assert (
        run(
            "generate",
            "--model",
            tiny_model,
            "--class",
            "nevus",
            "--n",
            2,
            "--out",
            out,
            "--format",
            "dcm",
            "--quiet",
        ).exit_code
        == 0
    )
    client = fake(denies=True)
    with StreamingSender(out, "dicom://A@h:1") as sender:
        sender.submit(["nevus/nevus_000000.dcm"])
        assert client.denied.wait(30)
        sender._thread.join(30)  # the sender thread ends on a refusal
        assert not sender._thread.is_alive()
        with pytest.raises(SendError, match="refused the credentials"):
            sender.submit(["nevus/nevus_000001.dcm"])
        with pytest.raises(SendError, match="refused the credentials"):
            sender.finish()
    assert client.closed and client.stored == []


def test_cli_generate_send_report_when_the_pacs_goes_away(tmp_path, tiny_model, fake):
    fake(dies_after=2)
    # --retries 1: one wait of 1 s, then the files not yet sent are reported as not sent.
    result = run(
        "generate",
        "--model",
        tiny_model,
        "--class",
        "nevus",
        "--n",
        4,
        "--out",
        tmp_path / "run",
        "--format",
        "dcm",
        "--batch-size",
        2,
        "--send",
        "dicom://A@h:1",
        "--retries",
        1,
        "--quiet",
    )
    assert result.exit_code == 2
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("4 images (nevus 4) in ") and "4 written now" in lines[0]
    assert lines[1] == (
        "2 sent, 0 already present, 2 failed (4 files) -> dicom://A@h:1; the PACS stopped "
        "answering (connection refused)"
    )
    assert result.stderr.splitlines()[-1] == (
        "Error: 2 of 4 files are not in dicom://A@h:1; run the same command again to send only those"
    )


@pytest.mark.parametrize(
    "options,named",
    [
        ({"per_request": 0}, "files per request"),
        ({"retries": -1}, "retries"),
        ({"per_request": True}, "files"),
    ],
)
def test_bad_counts_are_argument_errors_before_anything_is_sent(fake, options, named):
    client = fake()
    with pytest.raises(ArgumentError, match=named):
        send_module.send_instances(instances(2), "dicom://A@h:1", **options)
    assert client.stored == []
    with pytest.raises(ArgumentError, match="max_pending must be between 1"):
        StreamingSender(Path("unused"), "dicom://A@h:1", max_pending=0)
