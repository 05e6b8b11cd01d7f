"""DICOM output: one Secondary Capture Image (1.2.840.10008.5.1.4.1.1.7) per synthetic image.

What each file says (the Secondary Capture attributes of docs/dicom.md):

* it is synthetic: Synthetic Data (0008,001C) YES, Conversion Type SYN, Image Type DERIVED\\SECONDARY,
  Burned In Annotation NO, and a Contributing Equipment item with purpose (109100, DCM, "Synthesizing
  Equipment") naming medsynth and the model;
* it is of no patient: the Type 2 patient and study attributes are present and empty, and so is Laterality
  (empty means unknown);
* what its values mean: for a model trained on a window (``intensity.kind == "window"``), Rescale Slope /
  Intercept map the stored 0..255 back to the units the model was trained in (``center - width / 2 + v / 255 *
  width``) and the same window is the VOI (Window Center / Width with VOI LUT Function LINEAR_EXACT), so a
  viewer shows exactly the pixels the model produced, on the real (e.g. HU) scale;
* the pixels: 8-bit MONOCHROME2 or RGB (Planar Configuration 0), exactly the generator's uint8 values.

UIDs are derived from (model sha256, seed, class, index) with :func:`pydicom.uid.generate_uid`'s
``entropy_srcs``, so a re-run writes byte-identical files; study = (model, seed), series = (model, seed,
class).
No date or time is written (Content Date/Time are Type 2C, not required here).
"""

from __future__ import annotations

import io
import json
import unicodedata
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from medsynth._version import __version__
from medsynth.errors import ModelError
from medsynth.writers.base import FileWriter, ImageMeta, check_image

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pydicom.dataset import FileDataset

__all__ = ["DicomWriter", "SECONDARY_CAPTURE", "SYNTHESIZING_EQUIPMENT", "secondary_capture", "uid_for"]

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
SYNTHESIZING_EQUIPMENT = ("109100", "DCM", "Synthesizing Equipment")  # PS3.16 CID 7005, PS3.3 C.12.1.1.2 note
_MANUFACTURER = "medsynth"
PATIENT_NAME = "SYNTHETIC^MEDSYNTH"  # the fixed pseudonym of every synthetic image (no patient)
PATIENT_ID = "MEDSYNTH-SYNTHETIC"


def uid_for(kind: str, *parts: object) -> str:
    """A UID that depends only on ``kind`` and ``parts`` (pydicom root + SHA-512 of their JSON).

    Parameters
    ----------
    kind
        What the UID identifies (``"study"``, ``"series"``, ``"instance"``, ``"implementation"``).
    parts
        What makes it unique, e.g. model sha256, seed, class index, image index.

    Returns
    -------
    str
        A valid UID of at most 64 characters.
    """
    from pydicom.uid import generate_uid

    # JSON keeps the parts apart: generate_uid concatenates its sources, so ["ab", "c"] == ["a", "bc"] there.
    return str(generate_uid(entropy_srcs=[json.dumps(["medsynth", kind, *map(str, parts)])]))


_MAX_BYTES = {"SH": 16, "LO": 64, "ST": 1024, "LT": 10240}  # PS3.5 6.2; bytes, so also chars in UTF-8
_PARAGRAPH_VRS = {"ST", "LT"}  # text that may hold line breaks (CR, LF, FF) and backslashes
_NOT_TEXT = {"Cc", "Cs", "Zl", "Zp"}  # control characters, lone surrogates, line/paragraph separators
_MAX_REAL = 1e15  # window and rescale values a 16-character decimal string (DS) writes in full


def _text(value: str, vr: str) -> str:
    """A valid value of the DICOM text VR ``vr`` (SH, LO, ST, LT) from any string.

    Control characters become spaces (ST and LT keep CR, LF and FF), SH and LO lose backslashes (their
    value separator, here ``/``), and the value is cut to the VR's length in UTF-8 bytes (the files are
    ISO_IR 192) without splitting a character.
    """
    keep = "\r\n\f" if vr in _PARAGRAPH_VRS else ""
    text = "".join(c if c in keep or unicodedata.category(c) not in _NOT_TEXT else " " for c in value)
    if vr not in _PARAGRAPH_VRS:
        text = text.replace("\\", "/")
    return text.encode("utf-8")[: _MAX_BYTES[vr]].decode("utf-8", errors="ignore")


def _lo(value: str) -> str:
    return _text(value, "LO")


def _window(meta: ImageMeta) -> tuple[float, float, str] | None:
    intensity = meta.card.intensity
    if intensity.get("kind") != "window":
        return None
    if meta.card.photometric != "MONOCHROME2":
        raise ModelError(
            f"model {meta.card.name!r}: an intensity window on a {meta.card.photometric} model "
            f"cannot be stored in DICOM (windows apply to MONOCHROME2 images); fix the model "
            f"card"
        )
    center, width = float(intensity["center"]), float(intensity["width"])
    _check_window(meta.card.name, center, width)
    units = str(intensity.get("units", "US") or "US")  # US: unspecified (PS3.3 C.11.1.1.2)
    return center, width, _lo(units)


def _check_window(name: str, center: float, width: float) -> None:
    """Refuse a window whose values a DICOM file cannot carry meaningfully: beyond what a DS writes without
    an exponent (readers such as dciodvfy misread larger ones), or so narrow against its center that the 256
    stored values would not map to 256 distinct values once written as decimal strings."""
    from pydicom.valuerep import format_number_as_ds

    low, high = center - width / 2.0, center + width / 2.0
    if max(abs(low), abs(high)) <= _MAX_REAL:
        intercept = float(format_number_as_ds(low))
        slope = float(format_number_as_ds(width / 255.0))
        if slope > 0 and len({intercept + v * slope for v in range(256)}) == 256:
            return
    raise ModelError(
        f"model {name!r}: intensity window center {center:g}, width {width:g} cannot be stored "
        f"in DICOM (it must lie within +-{_MAX_REAL:g} and be wide enough for 256 distinct "
        "levels); fix the model card's intensity, or write --format png"
    )


def secondary_capture(image: np.ndarray, meta: ImageMeta) -> FileDataset:
    """Build the Secondary Capture data set of one synthetic image.

    Parameters
    ----------
    image
        ``uint8`` ``(H, W, C)`` with the card's size and channels.
    meta
        The model card, class, seed, index and model sha256.

    Returns
    -------
    pydicom.dataset.FileDataset
        The data set with its file meta, ready for :func:`pydicom.dcmwrite`.

    Raises
    ------
    ModelError
        The card asks for an intensity window on an RGB model.
    ValueError
        ``image`` does not match the card (a caller's programming error).
    """
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import UID
    from pydicom.valuerep import format_number_as_ds

    check_image(image, meta.card)
    card = meta.card
    window = _window(meta)
    run = (meta.model_sha256, meta.seed)
    instance_uid = UID(uid_for("instance", *run, meta.class_index, meta.index))

    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE)
    file_meta.MediaStorageSOPInstanceUID = instance_uid
    file_meta.TransferSyntaxUID = UID(EXPLICIT_VR_LITTLE_ENDIAN)
    file_meta.ImplementationClassUID = UID(uid_for("implementation", __version__))
    file_meta.ImplementationVersionName = _text(f"MEDSYNTH_{__version__}", "SH")

    ds = FileDataset("", Dataset(), file_meta=file_meta, preamble=b"\0" * 128)
    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = instance_uid
    ds.SyntheticData = "YES"
    purpose = Dataset()
    purpose.CodeValue, purpose.CodingSchemeDesignator, purpose.CodeMeaning = SYNTHESIZING_EQUIPMENT
    equipment = Dataset()
    equipment.PurposeOfReferenceCodeSequence = [purpose]
    equipment.Manufacturer = _MANUFACTURER
    equipment.ManufacturerModelName = _lo(card.name)
    equipment.SoftwareVersions = _lo(__version__)
    equipment.ContributionDescription = _text(f"GAN model {card.name}, sha256 {meta.model_sha256[:16]}", "ST")
    ds.ContributingEquipmentSequence = [equipment]
    # Patient: there is none. A fixed pseudonym (the same for every synthetic image) so that a PACS files the
    # studies under one obviously synthetic patient; the other Type 2 attributes are present and empty.
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    for keyword in (
        "PatientBirthDate",
        "PatientSex",
        "StudyDate",
        "StudyTime",
        "ReferringPhysicianName",
        "StudyID",
        "AccessionNumber",
    ):
        setattr(ds, keyword, "")
    # One Study per run (model, seed), one Series per class, InstanceNumber = index + 1: all deterministic.
    ds.StudyInstanceUID = uid_for("study", *run)
    ds.StudyDescription = _lo(f"SYNTHETIC images from medsynth model {card.name}")
    # General Series
    ds.Modality = "OT"
    ds.SeriesInstanceUID = uid_for("series", *run, meta.class_index)
    ds.SeriesNumber = meta.class_index + 1
    ds.SeriesDescription = _lo(f"SYNTHETIC {meta.class_name}")
    ds.Laterality = ""  # Type 2C, empty = unknown: a synthetic image is of no body side
    # General Equipment and SC Equipment
    ds.Manufacturer = _MANUFACTURER
    ds.ConversionType = "SYN"
    ds.SecondaryCaptureDeviceManufacturer = _MANUFACTURER
    ds.SecondaryCaptureDeviceManufacturerModelName = _lo(card.name)
    ds.SecondaryCaptureDeviceSoftwareVersions = _lo(__version__)
    # General Image
    ds.InstanceNumber = meta.index + 1
    ds.PatientOrientation = ""
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = "NO"
    comments = (
        f"Synthetic image, not of a patient. Model {card.name} (sha256 {meta.model_sha256}), "
        f"source modality {card.modality}, class {meta.class_name} "
        f"(label {meta.class_index}), seed {meta.seed}, index {meta.index}. "
        f"{card.intended_use}"
    )
    ds.ImageComments = _text(comments, "LT")
    # Image Pixel
    height, width, channels = image.shape
    ds.SamplesPerPixel = channels
    ds.PhotometricInterpretation = card.photometric
    if channels == 3:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = height, width
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if window is not None:
        center, window_width, units = window
        # Modality LUT: stored v -> center - width/2 + v * width/255, in the model's units.
        ds.RescaleIntercept = format_number_as_ds(center - window_width / 2.0)
        ds.RescaleSlope = format_number_as_ds(window_width / 255.0)
        ds.RescaleType = units
        # VOI LUT: the training window; LINEAR_EXACT maps [center - width/2, center + width/2] onto [0, 1].
        ds.WindowCenter = format_number_as_ds(center)
        ds.WindowWidth = format_number_as_ds(window_width)
        ds.VOILUTFunction = "LINEAR_EXACT"
        ds.WindowCenterWidthExplanation = _lo("window the model was trained in")
    pixels = np.ascontiguousarray(image if channels == 3 else image[:, :, 0]).tobytes()
    ds.PixelData = pixels + b"\0" * (len(pixels) % 2)  # OB values have even length
    ds["PixelData"].VR = "OB"
    return ds


class DicomWriter(FileWriter):
    """Writes one Secondary Capture file per image (``.dcm``)."""

    format_name: ClassVar[str] = "dcm"
    suffix: ClassVar[str] = ".dcm"

    def encode(self, image: np.ndarray, meta: ImageMeta) -> bytes:
        """Return the DICOM Part 10 file of one image (see :func:`secondary_capture`).

        Parameters
        ----------
        image
            ``uint8`` ``(H, W, C)``.
        meta
            What the image is.

        Returns
        -------
        bytes
            The file; the same for the same image and meta.
        """
        import pydicom

        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, secondary_capture(image, meta), enforce_file_format=True)
        return buffer.getvalue()
