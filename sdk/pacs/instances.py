"""The DICOM files of a run folder, with the UIDs a PACS files them under."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medsynth.errors import DataError
from medsynth.writers.manifest import MANIFEST_NAME, read_manifest

__all__ = ["Instance", "run_instances", "read_instance"]


@dataclass(frozen=True)
class Instance:
    """One DICOM file to send."""

    path: Path  # the file
    name: str  # its manifest path (relative to the run folder), for reports
    study: str  # StudyInstanceUID
    series: str  # SeriesInstanceUID
    sop: str  # SOPInstanceUID
    sop_class: str  # SOPClassUID


def run_instances(folder: Path) -> list[Instance]:
    """Return the DICOM files listed in ``folder/manifest.csv``, in manifest order.

    Parameters
    ----------
    folder
        A ``medsynth generate --format dcm`` output folder.

    Returns
    -------
    list of Instance
        One per manifest row.

    Raises
    ------
    DataError
        No manifest, a manifest of another format, or a listed file that is missing or not DICOM.
    """
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        raise DataError(
            f"{folder} has no {MANIFEST_NAME}: medsynth send takes a folder written by "
            "medsynth generate --format dcm"
        )
    rows = read_manifest(manifest)
    if not rows:
        raise DataError(f"{manifest} lists no images; nothing to send")
    not_dicom = [row.path for row in rows if not row.path.endswith(".dcm")]
    if not_dicom:
        raise DataError(
            f"{folder} holds {Path(not_dicom[0]).suffix or not_dicom[0]} images, not DICOM; "
            "generate with --format dcm to send to a PACS"
        )
    return [read_instance(folder, row.path, listed_in=manifest) for row in rows]


def read_instance(folder: Path, name: str, *, listed_in: Path | None = None) -> Instance:
    """Read the UIDs of one DICOM file of a run folder.

    Parameters
    ----------
    folder
        The run folder.
    name
        The file's path relative to ``folder`` (as the manifest writes it).
    listed_in
        The manifest that lists it, for the error message; ``None`` for a file the running generation has
        just written.

    Returns
    -------
    Instance
        The file and its UIDs.

    Raises
    ------
    DataError
        The file is missing or not readable DICOM.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = folder / name
    where = f"listed in {listed_in}" if listed_in is not None else "written by this run"
    try:
        ds = pydicom.dcmread(
            path,
            stop_before_pixels=True,
            specific_tags=["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"],
        )
        return Instance(
            path=path,
            name=name,
            study=str(ds.StudyInstanceUID),
            series=str(ds.SeriesInstanceUID),
            sop=str(ds.SOPInstanceUID),
            sop_class=str(ds.SOPClassUID),
        )
    except FileNotFoundError as exc:
        raise DataError(
            f"{path} is {where} but missing; re-run the medsynth generate command that made the "
            "folder to rewrite it"
        ) from exc
    except (OSError, InvalidDicomError, AttributeError, ValueError) as exc:
        raise DataError(
            f"{path} is not a readable DICOM file ({exc}); re-run the medsynth generate "
            "command that made the folder"
        ) from exc
