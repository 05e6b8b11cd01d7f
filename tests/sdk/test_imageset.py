"""medsynth.imageset, the one image-set module: layout detection, the one ISIC label rule, the one resize
policy (training and evaluation read the same pixels), and the training cache's keys."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from helpers.training import class_tree
from PIL import Image

from medsynth.errors import DataError
from medsynth.imageset import RESIZE_POLICY, ImageSet, check_resize_policy, detect_layout, load_image_set
from medsynth.imageset.resize import fit_array
from medsynth.training.data import load_image_set as load_for_training
from medsynth.training.data.cache import file_stamp


def _noise(path, shape, seed):
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return image


def _oracle(image, height, width):
    """The policy by hand: the largest centred crop of the target's aspect ratio, then Pillow's Lanczos."""
    h0, w0 = image.shape[:2]
    scale = min(h0 / height, w0 / width)
    ch, cw = round(height * scale), round(width * scale)
    top, left = (h0 - ch) // 2, (w0 - cw) // 2
    crop = Image.fromarray(image[top : top + ch, left : left + cw])
    return np.asarray(crop.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0))


@pytest.mark.parametrize(
    ("shape", "target"), [((30, 50, 3), (16, 16)), ((50, 30, 3), (16, 16)), ((40, 40, 3), (10, 20))]
)
def test_the_policy_crops_the_centre_to_the_target_aspect_then_resamples(shape, target):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(fit_array(image, *target), _oracle(image, *target))
    grey = image[..., :1]
    np.testing.assert_array_equal(fit_array(grey, *target)[..., 0], _oracle(grey[..., 0], *target))
    assert fit_array(image, *shape[:2]) is image  # already the size: untouched


def test_evaluation_and_training_see_the_same_pixels(tmp_path):
    """The bug this module removes: evaluation stretched non-square images, training cropped them."""
    originals = {}
    for cls in ("a", "b"):
        for i in range(2):
            originals[f"{cls}/{i}"] = _noise(
                tmp_path / "tree" / cls / f"{i}.png", (30, 48, 3), seed=len(originals)
            )
    evaluated = load_image_set(tmp_path / "tree", size=16)
    trained = load_for_training(tmp_path / "tree", image_size=16, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(evaluated.images, trained.images)
    assert evaluated.ids == trained.ids == ("a/0", "a/1", "b/0", "b/1")
    for image, key in zip(evaluated.images, evaluated.ids, strict=True):
        np.testing.assert_array_equal(image, _oracle(originals[key], 16, 16))
    stretched = np.asarray(Image.fromarray(originals["a/0"]).resize((16, 16), Image.Resampling.LANCZOS))
    assert np.abs(stretched.astype(int) - evaluated.images[0]).max() > 30  # the old evaluation differed
    # without a size, the set takes its first image's (non-square) size and the others are fitted to it
    _noise(tmp_path / "mixed" / "x" / "0.png", (30, 48, 3), seed=7)
    other = _noise(tmp_path / "mixed" / "x" / "1.png", (60, 60, 3), seed=8)
    mixed = load_image_set(tmp_path / "mixed")
    assert mixed.images.shape == (2, 30, 48, 3)
    np.testing.assert_array_equal(mixed.images[1], _oracle(other, 30, 48))


def test_layouts_are_detected_from_the_path(tmp_path):
    class_tree(tmp_path / "tree", {"a": 2})
    (tmp_path / "flat").mkdir()
    _noise(tmp_path / "flat" / "x.png", (8, 8, 3), 0)
    (tmp_path / "isic").mkdir()
    (tmp_path / "isic" / "ISIC-2017_GroundTruth_x.csv").write_text("image_id,melanoma,seborrheic_keratosis\n")
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "manifest.csv").write_text("path,class\n")
    np.savez(tmp_path / "a.npz", images=np.zeros((1, 4, 4), np.uint8))
    np.savez(tmp_path / "m.npz", train_images=np.zeros((1, 4, 4), np.uint8), train_labels=np.zeros((1, 1)))
    kinds = {
        "tree": "class-folders",
        "flat": "flat-folder",
        "isic": "isic-folder",
        "gen": "generate-output",
        "a.npz": "npz",
        "m.npz": "medmnist",
        "isic/ISIC-2017_GroundTruth_x.csv": "csv",
    }
    for name, kind in kinds.items():
        assert detect_layout(tmp_path / name).kind == kind, name
    assert detect_layout(tmp_path / "m.npz").has_splits and not detect_layout(tmp_path / "tree").has_splits
    pydicom_data = pytest.importorskip("pydicom.data")
    (tmp_path / "dcm" / "ct").mkdir(parents=True)
    shutil.copy(pydicom_data.get_testdata_file("CT_small.dcm"), tmp_path / "dcm" / "ct" / "a.dcm")
    assert detect_layout(tmp_path / "dcm").kind == "dicom-folders"
    with pytest.raises(DataError, match="does not exist"):
        detect_layout(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="not a data set medsynth can read"):
        detect_layout(tmp_path / "notes.txt")


def test_one_isic_label_rule_for_both_csv_formats(tmp_path):
    """The official file writes 0.0/1.0 floats; '== 1' on the text would call every row a nevus."""
    root = tmp_path / "isic"
    diagnoses = ["nevus", "melanoma", "seborrheic_keratosis", "melanoma"]
    for i in range(4):
        _noise(root / "images" / f"ISIC_{i:07d}.jpg", (12, 12, 3), i)
    (root / "labels.csv").write_text(
        "image_id,split,diagnosis,path\n"
        + "".join(f"ISIC_{i:07d},train,{d},images/ISIC_{i:07d}.jpg\n" for i, d in enumerate(diagnoses))
    )
    one_hot = {"nevus": "0.0,0.0", "melanoma": "1.0,0.0", "seborrheic_keratosis": "0.0,1.0"}
    (root / "gt.csv").write_text(
        "image_id,melanoma,seborrheic_keratosis\n"
        + "".join(f"ISIC_{i:07d},{one_hot[d]}\n" for i, d in enumerate(diagnoses))
    )
    via_labels, via_gt = load_image_set(root / "labels.csv"), load_image_set(root / "gt.csv")
    assert via_gt.classes == via_labels.classes == ("nevus", "melanoma", "seborrheic_keratosis")
    assert via_gt.ids == via_labels.ids and np.array_equal(via_gt.labels, via_labels.labels)
    assert [via_gt.classes[k] for k in via_gt.labels] == diagnoses
    assert via_gt.license.startswith("CC-0") and via_gt.modality == "XC"
    (root / "gt.csv").write_text("image_id,melanoma,seborrheic_keratosis\nISIC_0000000,1.0,1\n")
    with pytest.raises(DataError, match="both melanoma and seborrheic_keratosis are 1"):
        load_image_set(root / "gt.csv")
    with pytest.raises(DataError, match="no split column"):
        load_image_set(root / "gt.csv", split="val")


def test_npz_in_both_forms_and_splits(tmp_path):
    rng = np.random.default_rng(3)
    parts = {f"{s}_{k}": None for s in ("train", "val", "test") for k in ("images", "labels")}
    for s in ("train", "val", "test"):
        parts[f"{s}_images"] = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
        parts[f"{s}_labels"] = np.array([[0], [1], [0], [1]])
    np.savez(tmp_path / "m.npz", **parts)
    val = load_image_set(tmp_path / "m.npz", split="val", size=32)
    assert val.images.shape == (4, 32, 32, 1) and val.classes == ("0", "1") and val.ids[0] == "val-0"
    np.testing.assert_array_equal(val.images[2, ..., 0], _oracle(parts["val_images"][2], 32, 32))
    assert len(load_image_set(tmp_path / "m.npz").images) == 12  # no split: the whole set
    np.savez(tmp_path / "a.npz", images=parts["train_images"], labels=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match="has no splits"):
        load_image_set(tmp_path / "a.npz", split="val")
    assert load_image_set(tmp_path / "a.npz", channels=3).images.shape == (4, 28, 28, 3)


def test_class_folders_have_no_splits_and_no_empty_class(tmp_path):
    class_tree(tmp_path / "tree", {"a": 2, "b": 0})
    with pytest.raises(DataError, match="class 'b' has no images"):
        load_image_set(tmp_path / "tree")
    class_tree(tmp_path / "ok", {"a": 2, "b": 1})
    assert load_image_set(tmp_path / "ok").counts() == {"a": 2, "b": 1}  # evaluation takes one image
    with pytest.raises(DataError, match="class 'b' has a single image"):
        load_image_set(tmp_path / "ok", min_per_class=2)  # a GAN does not
    with pytest.raises(DataError, match="has no splits; cannot select split 'val'"):
        load_image_set(tmp_path / "ok", split="val")


def test_an_unknown_resize_policy_is_refused():
    assert check_resize_policy(RESIZE_POLICY) == "center-crop+lanczos"
    with pytest.raises(DataError, match="unknown resize policy 'stretch'"):
        check_resize_policy("stretch")


def test_image_sets_number_their_images_when_not_given_ids():
    s = ImageSet(np.zeros((3, 2, 2, 1), np.uint8), np.zeros(3, np.int64), ("all",), name="x")
    assert s.ids == ("0", "1", "2") and s.of_class("all").shape[0] == 3 and s.of_class("other").shape[0] == 0


def test_a_version_1_cache_entry_is_rebuilt_not_read(tmp_path):
    """An entry written before the key named the resize policy could hold other pixels: it must be ignored."""
    class_tree(tmp_path / "tree", {"a": 2, "b": 2})
    root = tmp_path / "tree"
    rows = [(f"{c}/{p.stem}", c, p) for c in ("a", "b") for p in sorted((root / c).iterdir())]
    old = ["files", 16, 3, "class folders (tree)", ["a", "b"], [[i, c, *file_stamp(p)] for i, c, p in rows]]
    key = hashlib.sha256(json.dumps([1, old]).encode()).hexdigest()[:24]
    planted = np.full((4, 16, 16, 3), 7, np.uint8)
    (tmp_path / "cache").mkdir()
    np.savez(
        tmp_path / "cache" / f"images-{key}.npz",
        images=planted,
        labels=np.array([0, 0, 1, 1]),
        ids=np.array([r[0] for r in rows]),
        skipped=np.zeros((0, 2), dtype=str),
    )
    data = load_for_training(root, image_size=16, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(data.images, load_image_set(root, size=16, channels=3).images)
    assert not np.array_equal(data.images, planted)
    assert len(list((tmp_path / "cache").glob("images-*.npz"))) == 2  # the old entry left, a new one made
