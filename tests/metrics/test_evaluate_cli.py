"""Image-set loading, the ONNX feature extractor, and ``medsynth evaluate`` end to end (report in
Chromium)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from medsynth.cli import main
from medsynth.errors import DataError
from medsynth.imageset import load_image_set

CLASSES = ("nevus", "melanoma")


def _blobs(n: int, seed: int, size: int = 40, shift: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for _ in range(n):
        cy, cx, r = rng.uniform(12, size - 12), rng.uniform(12, size - 12), rng.uniform(5, 10)
        skin = np.array([220, 180, 160]) + rng.normal(0, 8, 3) + shift
        lesion = np.array([120, 70, 50]) + rng.normal(0, 10, 3) + shift
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r**2)[..., None]
        img = np.where(mask, lesion, skin) + rng.normal(0, 6, (size, size, 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def _class_tree(root: Path, seed: int, n: int = 12, shift: int = 0) -> Path:
    for k, cls in enumerate(CLASSES):
        (root / cls).mkdir(parents=True)
        for i, img in enumerate(_blobs(n, seed + k, shift=shift)):
            Image.fromarray(img).save(root / cls / f"{i:03d}.png")
    return root


def test_loads_class_tree_generate_output_npz_and_isic_csvs(tmp_path):
    tree = _class_tree(tmp_path / "tree", seed=0, n=3)
    s = load_image_set(tree)
    assert (
        s.images.shape == (6, 40, 40, 3)
        and s.classes == tuple(sorted(CLASSES))
        and s.counts() == {"nevus": 3, "melanoma": 3}
    )
    # What generate writes: <class>/<name>.png and a manifest listing them.
    with (tree / "manifest.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["path", "class", "class_index", "seed", "index", "model_sha256", "medsynth_version", "synthetic"]
        )
        w.writerow(["melanoma/001.png", "melanoma", 1, 0, 1, "x", "0", 1])
    m = load_image_set(tree, size=20)
    assert m.images.shape == (1, 20, 20, 3) and m.classes == ("melanoma",)
    np.savez(tmp_path / "set.npz", images=s.images, labels=s.labels, class_names=np.array(s.classes))
    n = load_image_set(tmp_path / "set.npz", channels=1)
    assert n.images.shape == (6, 40, 40, 1) and n.classes == s.classes
    # ISIC: labels.csv with a split column, and the official ground-truth CSV with images/ beside it.
    isic = tmp_path / "isic"
    (isic / "images").mkdir(parents=True)
    for i, img in enumerate(_blobs(4, 9)):
        Image.fromarray(img).save(isic / "images" / f"ISIC_{i:07d}.jpg")
    (isic / "labels.csv").write_text(
        "image_id,split,diagnosis,path\n"
        + "".join(
            f"ISIC_{i:07d},{'train' if i < 3 else 'val'},{'melanoma' if i == 1 else 'nevus'},"
            f"images/ISIC_{i:07d}.jpg\n"
            for i in range(4)
        )
    )
    (isic / "gt.csv").write_text(
        "image_id,melanoma,seborrheic_keratosis\nISIC_0000000,0,0\nISIC_0000001,1,0\nISIC_0000002,0,1\n"
    )
    assert load_image_set(isic / "labels.csv", split="train").counts() == {"nevus": 2, "melanoma": 1}
    assert load_image_set(isic / "gt.csv").counts() == {"nevus": 1, "melanoma": 1, "seborrheic_keratosis": 1}
    with pytest.raises(DataError, match="no rows with split"):
        load_image_set(isic / "labels.csv", split="test")
    with pytest.raises(DataError, match="no images"):
        load_image_set((tmp_path / "empty").resolve().mkdir() or tmp_path / "empty")


def _tiny_feature_model(path: Path) -> Path:
    """A 2-output-feature ONNX model: per-channel spatial means of a float NCHW 16x16 input."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])
    out = helper.make_tensor_value_info("f", TensorProto.FLOAT, ["batch", 3])
    node = helper.make_node("ReduceMean", ["x"], ["f"], axes=[2, 3], keepdims=0)
    model = helper.make_model(
        helper.make_graph([node], "g", [inp], [out]), opset_imports=[helper.make_opsetid("", 13)]
    )
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_onnx_feature_extractor_resizes_scales_and_batches(tmp_path):
    from medsynth.metrics.features import OnnxFeatureExtractor

    model = _tiny_feature_model(tmp_path / "f.onnx")
    imgs = np.zeros((5, 40, 40, 3), np.uint8)
    imgs[..., 0] = 255
    imgs[..., 2] = 51
    feats = OnnxFeatureExtractor(model, batch_size=2)(imgs)
    np.testing.assert_allclose(feats, np.tile([1.0, 0.0, 0.2], (5, 1)), atol=1e-6)
    feats = OnnxFeatureExtractor(model, value_range="-1,1")(imgs[..., :1])  # grey repeated to 3 channels
    np.testing.assert_allclose(feats, 1.0, atol=1e-6)


def _run(args: list[str]):
    return CliRunner().invoke(main, ["evaluate", *args], catch_exceptions=False)


def test_evaluate_writes_metrics_report_and_flags_copies(tmp_path):
    real = _class_tree(tmp_path / "real", seed=100)
    train = _class_tree(tmp_path / "train", seed=200)
    synthetic = _class_tree(tmp_path / "synthetic", seed=300)
    for i in range(3):  # plant three training images among the synthetic ones
        shutil.copy(train / "nevus" / f"{i:03d}.png", synthetic / "nevus" / f"copy{i}.png")
    out = tmp_path / "out"
    result = _run(
        [
            "--real",
            str(real),
            "--synthetic",
            str(synthetic),
            "--train",
            str(train),
            "--bootstrap",
            "20",
            "--copy-percentile",
            "5",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "FD" in result.output and "haarpsi" in result.output and "copy rate" in result.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["feature_space"] == "radiomics" and set(m["per_class"]) == set(CLASSES)
    assert m["sets"]["real"]["source"] == str(real) and m["sets"]["synthetic"]["source"] == str(synthetic)
    fd = m["overall"]["fd"]
    assert fd["low"] <= fd["value"] <= fd["high"] and fd["n_boot"] == 20
    assert 0 <= m["overall"]["prdc"]["precision"] <= 1
    assert m["overall"]["full_reference"]["ms_ssim"]["scales"] == 2  # 40-pixel images fit two scales
    assert m["memorization"]["pixels"]["n_copies"] >= 3
    floor = m["overall"]["c2st"]["radiomics"]["floor"]  # with --train the floor is real against train
    assert floor["against"] == "train" and floor["n_a"] == 24 and floor["n_b"] == 24
    assert 0.0 <= m["overall"]["c2st"]["radiomics"]["auc"]["low"] <= 1.0
    assert (out / "closest_pairs.png").is_file()
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5 and "http" not in html.replace("http://www.w3.org", "")


def test_evaluate_with_an_onnx_extractor_and_identical_sets(tmp_path):
    model = _tiny_feature_model(tmp_path / "f.onnx")
    real = _class_tree(tmp_path / "real", seed=1)
    out = tmp_path / "out"
    result = _run(
        [
            "--real",
            str(real),
            "--synthetic",
            str(real),
            "--features",
            str(model),
            "--bootstrap",
            "0",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["feature_space"] == "onnx:f.onnx" and m["memorization"] is None
    assert m["overall"]["fd"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert m["overall"]["frd"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert m["overall"]["full_reference"]["psnr"]["identical_pairs"] == 24
    assert m["overall"]["full_reference"]["ssim"]["value"] == pytest.approx(1.0)
    for group in (m["overall"], *m["per_class"].values()):  # the same images share the same marks
        assert group["fixed_mark"]["ratio"] == pytest.approx(1.0)
    assert "fine mark at a fixed place" in (out / "report.html").read_text()
    # the two-sample test runs in both spaces; identical sets cannot be told apart
    c2st = m["overall"]["c2st"]
    assert set(c2st) == {"radiomics", "onnx:f.onnx"}
    for entry in c2st.values():
        assert entry["auc"]["value"] < 0.65 and entry["folds"] == 5 and len(entry["fold_auc"]) == 5
        assert entry["floor"]["against"] == "real halves" and entry["floor"]["n_a"] == 12
    assert set(m["per_class"]["nevus"]["c2st"]) == set(c2st)
    assert "C2ST AUC (radiomics)" in result.output and "floor, real vs real (onnx:f.onnx)" in result.output
    assert "FD (onnx:f.onnx)" in result.output


def test_evaluate_in_the_bundled_efficientnet_space(tmp_path):
    real = _class_tree(tmp_path / "real", seed=7, n=6)
    synthetic = _class_tree(tmp_path / "synthetic", seed=8, n=6, shift=40)
    out = tmp_path / "out"
    args = ["--real", str(real), "--synthetic", str(synthetic), "--bootstrap", "0", "--out", str(out)]
    result = _run([*args, "--features", "efficientnet-lite0"])
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["feature_space"] == "efficientnet-lite0"
    assert m["overall"]["fd"]["value"] > 0 and "frd" in m["overall"] and "relative_fd" in m["overall"]
    assert set(m["overall"]["c2st"]) == {"radiomics", "efficientnet-lite0"}
    for group in (m["overall"], *m["per_class"].values()):  # diversity in the chosen space, class by class
        assert group["diversity"]["ratio"] == group["diversity"]["synthetic"] / group["diversity"]["real"] > 0
    assert "diversity (synthetic / real)" in result.output
    assert "Kynk" in (out / "report.html").read_text()  # the caveat of a pretrained space
    bad = CliRunner().invoke(main, ["evaluate", *args, "--features", "efficientnet-b9"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "no bundled feature space" in bad.output


def test_evaluate_errors_are_one_line(tmp_path):
    real = _class_tree(tmp_path / "real", seed=1, n=3)
    gray = tmp_path / "gray.npz"
    np.savez(gray, images=np.zeros((2, 8, 8), np.float32))
    result = CliRunner().invoke(
        main, ["evaluate", "--real", str(real), "--synthetic", str(gray), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "must be uint8" in result.output


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)"
)
def test_report_renders_in_headless_chromium(tmp_path):
    real = _class_tree(tmp_path / "real", seed=5)
    synthetic = _class_tree(tmp_path / "synthetic", seed=6)
    out = tmp_path / "out"
    assert (
        _run(
            [
                "--real",
                str(real),
                "--synthetic",
                str(synthetic),
                "--train",
                str(real),
                "--bootstrap",
                "5",
                "--out",
                str(out),
            ]
        ).exit_code
        == 0
    )
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1000,2400",
            f"--screenshot={shot}",
            (out / "report.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1000)
    non_white = (pixels < 240).any(axis=2).mean()
    assert 0.02 < non_white < 0.9  # text, tables and image grids drawn; not a blank or error page
    colourful = (pixels.max(axis=2).astype(int) - pixels.min(axis=2) > 40).mean()
    assert colourful > 0.005  # the embedded image grids decoded


def test_evaluate_resizes_real_images_by_the_models_card(tmp_path, tiny_model, model_factory, onnx_models):
    real = _class_tree(tmp_path / "real", seed=2, n=3)
    stated = model_factory("stated", onnx_models.make_card(resize_policy="center-crop+lanczos"))
    newer = model_factory("newer", onnx_models.make_card(resize_policy="stretch+bicubic"))
    args = ["--real", str(real), "--synthetic", str(real), "--bootstrap", "0", "--max-per-class", "3"]
    expected = {
        None: {"name": "center-crop+lanczos", "from": "default"},
        tiny_model: {"name": "center-crop+lanczos", "from": "default (the card of tiny-test names none)"},
        stated: {"name": "center-crop+lanczos", "from": "the card of tiny-test"},
    }
    for i, (model, policy) in enumerate(expected.items()):
        out = tmp_path / f"out{i}"
        result = _run([*args, "--out", str(out), *(["--model", str(model)] if model else [])])
        assert result.exit_code == 0, result.output
        assert json.loads((out / "metrics.json").read_text())["resize_policy"] == policy
    bad = CliRunner().invoke(main, ["evaluate", *args, "--model", str(newer), "--out", str(tmp_path / "o")])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1
    assert "unknown resize policy 'stretch+bicubic'" in bad.output and not (tmp_path / "o").exists()
