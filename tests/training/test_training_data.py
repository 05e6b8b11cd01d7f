"""Data loaders: class folders, ISIC (both CSV layouts, real files when ../shared/data is present), MedMNIST
npz and DICOM class folders, each made in tmp_path; the cache; and every bad input as a DataError."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers.training import SHARED_ISIC, class_tree, isic_folder, read_shared_isic_labels, solid_png
from PIL import Image

import medsynth.imageset.files as files_module
from medsynth.errors import DataError
from medsynth.imageset.files import read_image
from medsynth.training.data import ImageSet, load_image_set


def test_class_folders_give_each_class_its_colour(tmp_path):
    colours = class_tree(tmp_path / "tree", {"benign": 3, "malignant": 2})
    data = load_image_set(tmp_path / "tree", image_size=16)
    assert data.classes == ("benign", "malignant") and data.counts() == {"benign": 3, "malignant": 2}
    assert data.images.shape == (5, 16, 16, 3) and data.images.dtype == np.uint8
    for image, label in zip(data.images, data.labels, strict=True):
        assert np.all(image == np.array(colours[data.classes[label]], dtype=np.uint8))
    assert data.ids[0] == "benign/benign_0" and not data.skipped
    grey = load_image_set(tmp_path / "tree", image_size=16, channels=1)
    r, g, b = colours["benign"]
    assert grey.images.shape == (5, 16, 16, 1)
    assert abs(int(grey.images[0, 0, 0, 0]) - (0.299 * r + 0.587 * g + 0.114 * b)) <= 1


def test_read_image_centre_crops_before_resizing(tmp_path):
    image = np.zeros((20, 40, 3), dtype=np.uint8)
    image[:, 10:30] = 200  # the centred 20x20 square; the side bands are black
    Image.fromarray(image).save(tmp_path / "wide.png")
    assert np.all(read_image(tmp_path / "wide.png", (10, 10), 3) == 200)


def test_unreadable_images_are_skipped_with_a_count_and_reported(tmp_path):
    class_tree(tmp_path / "tree", {"a": 3, "b": 3})
    (tmp_path / "tree" / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "tree" / "a" / "empty.jpg").write_bytes(b"")
    messages: list[str] = []
    data = load_image_set(tmp_path / "tree", image_size=16, progress=messages.append)
    assert data.counts() == {"a": 3, "b": 3}
    assert sorted(i for i, _ in data.skipped) == ["a/empty", "b/broken"]
    assert len(messages) == 1 and messages[0].startswith("skipped 2 unreadable image(s) of 8")


def test_second_read_comes_from_the_cache_and_a_changed_file_is_read_again(tmp_path, monkeypatch):
    class_tree(tmp_path / "tree", {"a": 2, "b": 2})
    first = load_image_set(tmp_path / "tree", image_size=16, cache_dir=tmp_path / "c")
    assert len(list((tmp_path / "c").glob("images-*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(files_module, "read_image", fail)
    again = load_image_set(tmp_path / "tree", image_size=16, cache_dir=tmp_path / "c")
    assert np.array_equal(first.images, again.images) and first.ids == again.ids
    monkeypatch.setattr(files_module, "read_image", read_image)
    solid_png(tmp_path / "tree" / "a" / "a_0.png", (1, 2, 3), size=(30, 30))
    changed = load_image_set(tmp_path / "tree", image_size=16, cache_dir=tmp_path / "c")
    assert np.all(changed.images[0] == (1, 2, 3))


def test_empty_class_single_image_class_and_bad_paths_are_data_errors(tmp_path):
    class_tree(tmp_path / "empty", {"a": 2, "b": 0})
    with pytest.raises(DataError, match="class 'b' has no images"):
        load_image_set(tmp_path / "empty", image_size=16)
    class_tree(tmp_path / "single", {"a": 2, "b": 1})
    with pytest.raises(DataError, match="class 'b' has a single image"):
        load_image_set(tmp_path / "single", image_size=16)
    with pytest.raises(DataError, match="does not exist"):
        load_image_set(tmp_path / "nowhere", image_size=16)
    (tmp_path / "flat").mkdir()
    solid_png(tmp_path / "flat" / "x.png", (0, 0, 0))
    with pytest.raises(DataError, match="not a data set medsynth can read"):
        load_image_set(tmp_path / "flat", image_size=16)
    with pytest.raises(DataError, match="has no splits"):
        load_image_set(tmp_path / "single", image_size=16, split="val")
    class_tree(tmp_path / "junk", {"a": 0, "b": 0})
    for name in ("a/x.png", "a/y.png", "b/x.png", "b/y.png"):
        (tmp_path / "junk" / name).write_bytes(b"junk")
    with pytest.raises(DataError, match="no readable images"):
        load_image_set(tmp_path / "junk", image_size=16)


def _synthetic_isic(tmp_path):
    sources, labels, split = {}, {}, {}
    for i, (diagnosis, part) in enumerate(
        [
            ("nevus", "train"),
            ("nevus", "train"),
            ("melanoma", "train"),
            ("melanoma", "train"),
            ("seborrheic_keratosis", "train"),
            ("seborrheic_keratosis", "train"),
            ("nevus", "val"),
            ("melanoma", "val"),
        ]
    ):
        image_id = f"ISIC_{i:07d}"
        sources[image_id] = solid_png(tmp_path / "src" / f"{image_id}.jpg", (10 * i, 100, 200), size=(40, 30))
        labels[image_id], split[image_id] = diagnosis, part
    return isic_folder(tmp_path / "isic", sources, labels, split)


def test_isic_labels_csv_and_official_ground_truth_agree(tmp_path):
    root = _synthetic_isic(tmp_path)
    train = load_image_set(root, image_size=16)
    assert train.classes == ("nevus", "melanoma", "seborrheic_keratosis")
    assert train.counts() == {"nevus": 2, "melanoma": 2, "seborrheic_keratosis": 2}
    assert train.modality == "XC" and train.license.startswith("CC-0")
    assert load_image_set(root, image_size=16, split="all").counts()["nevus"] == 3
    (root / "labels.csv").unlink()
    official = load_image_set(root, image_size=16, split="all")
    assert official.counts() == {"nevus": 3, "melanoma": 3, "seborrheic_keratosis": 2}
    with pytest.raises(DataError, match="no split column"):
        load_image_set(root, image_size=16, split="val")


def test_isic_csv_with_unknown_columns_is_refused(tmp_path):
    (tmp_path / "labels.csv").write_text("name,label\nx,1\n")
    with pytest.raises(DataError, match="neither an ISIC ground-truth CSV"):
        load_image_set(tmp_path / "labels.csv", image_size=16)


@pytest.mark.skipif(not SHARED_ISIC.is_dir(), reason="real ISIC 2017 images not present at ../shared/data")
def test_real_isic_files_in_both_csv_formats(tmp_path):
    sources, labels, split = read_shared_isic_labels(4)
    root = isic_folder(tmp_path / "isic", sources, labels, split)
    via_labels = load_image_set(root, image_size=32)
    assert via_labels.counts() == {"nevus": 4, "melanoma": 4, "seborrheic_keratosis": 4}
    assert via_labels.images.shape == (12, 32, 32, 3) and not via_labels.skipped
    assert 20 < via_labels.images.mean() < 235 and via_labels.images.std() > 5  # real photographs
    (root / "labels.csv").unlink()
    via_official = load_image_set(root, image_size=32)
    order = np.argsort(via_official.ids)
    assert np.array_equal(via_official.images[order], via_labels.images[np.argsort(via_labels.ids)])
    with Image.open(next(iter(sources.values()))) as im:  # the oracle: PIL's own resize of the full square
        expected = np.asarray(im.convert("RGB").resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=3.0))
    first = via_labels.ids.index(next(iter(sources)))
    assert np.abs(via_labels.images[first].astype(int) - expected).max() <= 1


def _medmnist_npz(path, *, rgb=False):
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 6), ("val", 4), ("test", 2)):
        shape = (n, 28, 28, 3) if rgb else (n, 28, 28)
        arrays[f"{part}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{part}_labels"] = (np.arange(n) % 2).reshape(-1, 1)
    np.savez(path, **arrays)
    return arrays


def test_medmnist_npz_splits_resize_and_channels(tmp_path):
    arrays = _medmnist_npz(tmp_path / "breastmnist.npz")
    native = load_image_set(tmp_path / "breastmnist.npz", image_size=28)  # not a power of two, not resized
    assert native.images.shape == (6, 28, 28, 1)
    assert np.array_equal(native.images[..., 0], arrays["train_images"])
    assert native.classes == ("0", "1") and native.license.startswith("CC BY 4.0")
    val = load_image_set(tmp_path / "breastmnist.npz", image_size=32, split="val", channels=3)
    assert val.images.shape == (4, 32, 32, 3)
    assert np.array_equal(val.images[..., 0], val.images[..., 2])
    expected = np.asarray(Image.fromarray(arrays["val_images"][1]).resize((32, 32), Image.Resampling.LANCZOS))
    assert np.array_equal(val.images[1, ..., 0], expected)
    assert len(load_image_set(tmp_path / "breastmnist.npz", image_size=32, split="all").images) == 12
    with pytest.raises(DataError, match="has no extra_images/extra_labels arrays"):
        load_image_set(tmp_path / "breastmnist.npz", image_size=32, split="extra")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz is not an NPZ archive"):
        load_image_set(tmp_path / "bad.npz", image_size=32)


def test_image_set_checks_its_arrays():
    with pytest.raises(DataError, match="must be uint8"):
        ImageSet(images=np.zeros((2, 4, 4, 3)), labels=np.array([0, 0]), classes=("a",), ids=("x", "y"))
    with pytest.raises(DataError, match="same length"):
        ImageSet(
            images=np.zeros((2, 4, 4, 3), np.uint8), labels=np.array([0]), classes=("a",), ids=("x", "y")
        )


def _dicom_tree(tmp_path):
    pydicom_data = pytest.importorskip("pydicom.data")
    mr, ct = pydicom_data.get_testdata_file("MR_small.dcm"), pydicom_data.get_testdata_file("CT_small.dcm")
    root = tmp_path / "dicom"
    for name in ("mr_a", "mr_b"):
        (root / "mr").mkdir(parents=True, exist_ok=True)
        shutil.copy(mr, root / "mr" / f"{name}.dcm")
    (root / "ct").mkdir(parents=True)
    shutil.copy(ct, root / "ct" / "ct_a.dcm")
    shutil.copy(ct, root / "ct" / "ct_b.dcm")
    (root / "ct" / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 40)
    return root, mr


def test_dicom_class_folders_windowed_like_the_standard_says(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.pixels import apply_modality_lut

    root, mr = _dicom_tree(tmp_path)
    messages: list[str] = []
    data = load_image_set(root, image_size=64, window="1000,2000", progress=messages.append)
    assert data.classes == ("ct", "mr") and data.counts() == {"ct": 2, "mr": 2}
    assert data.images.shape == (4, 64, 64, 1) and data.modality == "OT"  # CT and MR together
    assert [i for i, _ in data.skipped] == ["ct/broken.dcm"]
    assert messages and messages[0].startswith("skipped 1 unusable DICOM file(s) of 5")
    assert data.ids == ("ct/ct_a.dcm", "ct/ct_b.dcm", "mr/mr_a.dcm", "mr/mr_b.dcm")
    # oracle: PS3.3 C.11.2.1.2.1 LINEAR on pydicom's modality-LUT output (MR_small is 64x64: no resampling)
    ds = pydicom.dcmread(mr)
    x = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    c, w = 1000.0, 2000.0
    y = np.clip(((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0, 0, 255)
    assert np.abs(data.images[2, ..., 0].astype(float) - y).max() <= 1.0
    assert np.array_equal(data.images[2], data.images[3])
    rgb = load_image_set(root, image_size=64, window="1000,2000", channels=3)
    assert rgb.images.shape == (4, 64, 64, 3) and np.array_equal(rgb.images[..., 1], data.images[..., 0])


def test_dicom_class_without_a_usable_file_and_a_bad_window_are_data_errors(tmp_path):
    root, _ = _dicom_tree(tmp_path)
    with pytest.raises(DataError, match="class 'ct' has no usable DICOM image"):
        load_image_set(root, image_size=64, window="from-file")  # CT_small has no window of its own
    with pytest.raises(DataError, match="window"):
        load_image_set(root, image_size=64, window="wide-open")
