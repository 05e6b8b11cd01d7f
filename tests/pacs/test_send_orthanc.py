"""medsynth send against a real Orthanc: DIMSE C-STORE and DICOMweb STOW-RS, re-runs, failures."""

from __future__ import annotations

import csv
import threading

import pydicom
import pytest
from click.testing import CliRunner
from helpers.orthanc import PASSWORD, USER

from medsynth import Generator
from medsynth.cli import main
from medsynth.pacs import StreamingSender, send_folder
from medsynth.writers.run import write_run

pytest.importorskip("pynetdicom")
pytestmark = pytest.mark.slow  # starts a real Orthanc (several seconds each time)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, match):
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and match in errors[0], result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]


def local_files(folder):
    with (folder / "manifest.csv").open(newline="") as handle:
        return [folder / row["path"] for row in csv.DictReader(handle)]


def assert_all_arrived(orthanc, folder):
    """Every local file is in Orthanc: byte-identical pixel data, SyntheticData YES, its organisation."""
    for path in local_files(folder):
        local = pydicom.dcmread(path)
        instance = orthanc.instance_id(local.SOPInstanceUID)
        assert instance is not None, f"{path.name} is not in Orthanc"
        stored = pydicom.dcmread(pydicom.filebase.DicomBytesIO(orthanc.file(instance)))
        assert stored.PixelData == local.PixelData and stored.SOPInstanceUID == local.SOPInstanceUID
        # Orthanc 1.10's dictionary predates SyntheticData, so its name is unknown there: read it by tag.
        tags = orthanc.get(f"/instances/{instance}/tags")
        assert tags["0008,001c"]["Value"] == "YES"
        assert tags["0020,0013"]["Value"].strip() == str(local.InstanceNumber)
        assert tags["0008,103e"]["Value"].startswith("SYNTHETIC ")
        assert tags["0010,0010"]["Value"] == "SYNTHETIC^MEDSYNTH"


@pytest.mark.parametrize("via", ["dimse", "dicomweb"])
def test_every_instance_arrives_and_a_rerun_sends_only_what_is_missing(orthanc, dcm_run, via):
    folder = dcm_run(seed={"dimse": 1, "dicomweb": 2}[via])
    to = getattr(orthanc, via)
    auth = ["--user", f"{USER}:{PASSWORD}"] if via == "dicomweb" else []
    first = run("send", folder, "--to", to, *auth, "--quiet")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == f"5 sent, 0 already present, 0 failed (5 files) -> {to}"
    assert_all_arrived(orthanc, folder)
    # One study per run, one series per class, as the PACS sees it.
    study_uid = pydicom.dcmread(local_files(folder)[0]).StudyInstanceUID
    (study,) = [
        s for s in orthanc.get("/studies?expand") if s["MainDicomTags"]["StudyInstanceUID"] == study_uid
    ]
    assert study["MainDicomTags"]["StudyDescription"] == "SYNTHETIC images from medsynth model tiny-test"
    series = [orthanc.get(f"/series/{s}") for s in study["Series"]]
    assert sorted(s["MainDicomTags"]["SeriesDescription"] for s in series) == [
        "SYNTHETIC melanoma",
        "SYNTHETIC nevus",
    ]
    assert sorted(len(s["Instances"]) for s in series) == [2, 3]
    # Remove one instance from the PACS: the re-run sends exactly that one.
    gone = pydicom.dcmread(local_files(folder)[3]).SOPInstanceUID
    orthanc.delete(f"/instances/{orthanc.instance_id(gone)}")
    before = {p: p.read_bytes() for p in local_files(folder)}
    again = run("send", folder, "--to", to, *auth, "--quiet")
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == f"1 sent, 4 already present, 0 failed (5 files) -> {to}"
    assert_all_arrived(orthanc, folder)
    assert {p: p.read_bytes() for p in local_files(folder)} == before  # nothing changed locally


def test_generate_send_writes_then_delivers(orthanc, tmp_path, tiny_model):
    out = tmp_path / "gen"
    result = run(
        "generate",
        "--model",
        tiny_model,
        "--class",
        "seborrheic_keratosis",
        "--n",
        3,
        "--format",
        "dcm",
        "--seed",
        9,
        "--out",
        out,
        "--send",
        orthanc.dicomweb,
        "--user",
        f"{USER}:{PASSWORD}",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    summary = f"3 sent, 0 already present, 0 failed (3 files) -> {orthanc.dicomweb}"
    assert result.stdout.splitlines()[-1] == summary
    assert_all_arrived(orthanc, out)


@pytest.mark.parametrize("via", ["dimse", "dicomweb"])
def test_generate_send_sends_each_batch_while_the_next_is_made(orthanc, tmp_path, tiny_model, via):
    out = tmp_path / "stream"
    creds = {"user": f"{USER}:{PASSWORD}"} if via == "dicomweb" else {}
    first_stored = threading.Event()
    seen = []

    def sent(done, submitted):  # after each request: files handled of those submitted
        first_stored.set()

    def written(done, total):
        # Called after each batch is written. At the first one, the sender must deliver that batch while
        # the rest is still to be written: wait for it (an event, not a duration), then ask Orthanc.
        if not seen:
            assert first_stored.wait(60), "nothing reached the PACS while the run was writing"
            first = pydicom.dcmread(out / "nevus" / "nevus_000000.dcm").SOPInstanceUID
            seen.append(
                (
                    done,
                    total,
                    orthanc.instance_id(first) is not None,
                    (out / "nevus" / "nevus_000005.dcm").exists(),
                )
            )

    with StreamingSender(out, getattr(orthanc, via), progress=sent, **creds) as sender:
        write_run(
            Generator.load(tiny_model, device="cpu"),
            {"nevus": 6},
            out,
            fmt="dcm",
            seed={"dimse": 20, "dicomweb": 21}[via],
            batch_size=2,
            progress=written,
            published=sender.submit,
        )
        report = sender.finish()
    assert seen == [(2, 6, True, False)]  # in Orthanc before the last file was written
    assert (len(report.sent), len(report.present), len(report.failed)) == (6, 0, 0)
    assert_all_arrived(orthanc, out)


@pytest.mark.filterwarnings("ignore:Exception ignored in.*socket:pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("via", ["dimse", "dicomweb"])
def test_generate_send_when_the_pacs_goes_away_midway(orthanc, tmp_path, tiny_model, via):
    out = tmp_path / "away"
    to = getattr(orthanc, via)
    creds = {"user": f"{USER}:{PASSWORD}"} if via == "dicomweb" else {}
    waits = []

    def stop_after_first_batch(done, submitted):
        if done == 2:
            orthanc.stop()

    try:
        with StreamingSender(
            out,
            to,
            per_request=2,
            retries=2,
            backoff=0.5,
            timeout=5,
            progress=stop_after_first_batch,
            sleep=waits.append,
            **creds,
        ) as sender:
            summary = write_run(
                Generator.load(tiny_model, device="cpu"),
                {"nevus": 6},
                out,
                fmt="dcm",
                seed={"dimse": 22, "dicomweb": 23}[via],
                batch_size=2,
                published=sender.submit,
            )
            report = sender.finish()
    finally:
        if orthanc.process is None:
            orthanc.start()
    assert summary.written == 6 and len(local_files(out)) == 6  # the run itself is complete
    assert (len(report.sent), len(report.present), len(report.failed)) == (2, 0, 4)
    assert waits == [0.5, 1.0]  # retried once with backoff, then the rest was not tried
    assert "the PACS stopped answering" in report.summary()
    before = {p: p.read_bytes() for p in local_files(out)}
    # The same command again, with the PACS back: nothing is regenerated, only the missing four go.
    auth = ["--user", creds["user"]] if creds else []
    again = run(
        "generate",
        "--model",
        tiny_model,
        "--class",
        "nevus",
        "--n",
        6,
        "--format",
        "dcm",
        "--seed",
        {"dimse": 22, "dicomweb": 23}[via],
        "--batch-size",
        2,
        "--out",
        out,
        "--send",
        to,
        *auth,
        "--quiet",
    )
    assert again.exit_code == 0, again.output
    assert "0 written now; 6 were already there" in again.stdout
    assert again.stdout.splitlines()[-1] == f"4 sent, 2 already present, 0 failed (6 files) -> {to}"
    assert {p: p.read_bytes() for p in local_files(out)} == before  # nothing changed locally
    assert_all_arrived(orthanc, out)


def test_generate_send_with_a_wrong_password_stops_and_resumes(orthanc, tmp_path, tiny_model):
    out = tmp_path / "badpw"
    args = [
        "generate",
        "--model",
        tiny_model,
        "--class",
        "melanoma",
        "--n",
        8,
        "--format",
        "dcm",
        "--seed",
        24,
        "--batch-size",
        2,
        "--out",
        out,
        "--send",
        orthanc.dicomweb,
        "--quiet",
    ]
    assert_one_line_error(run(*args, "--user", f"{USER}:wrong"), "refused the credentials (HTTP 401)")
    assert not (out / "manifest.csv").exists() or len(local_files(out)) == 8
    again = run(*args, "--user", f"{USER}:{PASSWORD}")
    assert again.exit_code == 0, again.output
    last = again.stdout.splitlines()[-1]
    assert last == f"8 sent, 0 already present, 0 failed (8 files) -> {orthanc.dicomweb}"
    assert_all_arrived(orthanc, out)


def test_wrong_password_is_one_error_line(orthanc, dcm_run):
    folder = dcm_run(seed=3)
    result = run("send", folder, "--to", orthanc.dicomweb, "--user", f"{USER}:wrong", "--quiet")
    assert_one_line_error(result, "refused the credentials (HTTP 401)")
    assert result.stdout == ""


def test_wrong_called_aet_is_one_error_line(orthanc, dcm_run):
    folder = dcm_run(seed=3)
    to = orthanc.dimse.replace("ORTHANC@", "NOT-ORTHANC@")
    assert_one_line_error(run("send", folder, "--to", to, "--quiet"), "rejected the association")


# pynetdicom 3.0 leaves the socket of a refused connection to the garbage collector (transport.py, connect).
@pytest.mark.filterwarnings("ignore:Exception ignored in.*socket:pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("via", ["dimse", "dicomweb"])
def test_a_pacs_that_goes_away_midway_then_a_rerun_completes(orthanc, dcm_run, via):
    folder = dcm_run(seed={"dimse": 4, "dicomweb": 5}[via])
    to = getattr(orthanc, via)
    creds = {"user": f"{USER}:{PASSWORD}"} if via == "dicomweb" else {}
    waits = []

    def stop_after_first_batch(done, total):
        if done == 2:
            orthanc.stop()

    try:
        report = send_folder(
            folder,
            to,
            per_request=2,
            retries=2,
            backoff=0.5,
            timeout=5,
            progress=stop_after_first_batch,
            sleep=waits.append,
            **creds,
        )
    finally:
        if orthanc.process is None:
            orthanc.start()
    assert (len(report.sent), len(report.present), len(report.failed)) == (2, 0, 3)
    assert waits == [0.5, 1.0]  # the retries' backoff
    assert report.unreachable and "stopped answering" in report.summary()
    assert all(why.startswith("not sent: ") for _, why in report.failed)
    # The CLI's re-run, with the PACS back: only the three missing files go.
    auth = ["--user", creds["user"]] if creds else []
    again = run("send", folder, "--to", to, *auth, "--quiet")
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == f"3 sent, 2 already present, 0 failed (5 files) -> {to}"
    assert_all_arrived(orthanc, folder)


def test_an_unreachable_pacs_is_one_error_line(orthanc, dcm_run):
    folder = dcm_run(seed=6)
    orthanc.stop()
    try:
        result = run("send", folder, "--to", orthanc.dicomweb, "--user", f"{USER}:{PASSWORD}", "--retries", 0)
    finally:
        orthanc.start()
    assert_one_line_error(result, f"cannot reach {orthanc.dicomweb}")
    assert "nothing was sent" in result.stderr
