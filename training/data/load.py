"""Turn a data path into an :class:`ImageSet`: detect the layout, read and resize once, cache the arrays."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from medsynth.errors import DataError
from medsynth.training.data.folders import class_folders, read_class_folders
from medsynth.training.data.image_set import ImageSet
from medsynth.training.data.isic import ISIC_LICENSE, class_order, find_isic_csv, read_isic_labels
from medsynth.training.data.medmnist import MEDMNIST_LICENSE, read_medmnist
from medsynth.training.data.resize import read_image

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    return Path(os.environ.get("MEDSYNTH_CACHE", Path.home() / ".cache" / "medsynth"))


def load_image_set(data: str | Path, *, image_size: int, channels: int = 0, split: str = "train",
                   window: str = "", cache_dir: Path | None = None,
                   progress: Callable[[str], None] | None = None) -> ImageSet:
    """Read a data set in any supported layout at ``image_size`` and return it as an :class:`ImageSet`.

    Parameters
    ----------
    data
        An ISIC folder (``labels.csv`` or the official ground-truth CSV beside an image folder) or the CSV itself, a
        class-per-folder tree, a MedMNIST ``.npz``, or a folder of DICOM files in class sub-folders.
    image_size
        Side of the square output images.
    channels
        1 or 3; 0 keeps the data set's own (RGB for photographs, 1 for MedMNIST grayscale and DICOM).
    split
        Split to read where the data set has splits; "all" reads every split.
    window
        DICOM only: "from-file", a preset name or "C,W".
    cache_dir
        Where preprocessed arrays are kept (default ``$MEDSYNTH_CACHE`` or ``~/.cache/medsynth``).

    Raises
    ------
    DataError
        The path does not exist or is in no known layout, a class is empty or has a single image.
    """
    path = Path(data)
    if not path.exists():
        raise DataError(f"data set {path} does not exist")
    if path.suffix.lower() == ".npz":
        return _medmnist(path, image_size, channels, split)
    csv_path = find_isic_csv(path) if path.is_dir() or path.suffix.lower() == ".csv" else None
    if csv_path is not None:
        rows = read_isic_labels(csv_path, split)
        name = f"ISIC ({csv_path.parent.name}, split {split})"
        return _cached_files(rows, name, ISIC_LICENSE, image_size, channels or 3, cache_dir, progress,
                             order=class_order({r[1] for r in rows}))
    if path.is_dir() and class_folders(path):
        if _looks_like_dicom(path):
            from medsynth.training.data.dicom_folder import read_dicom_classes

            return read_dicom_classes(path, image_size=image_size, window=window)
        rows = read_class_folders(path)
        if not rows:
            raise DataError(f"{path} has class folders {class_folders(path)} but no image files in them")
        return _cached_files(rows, f"class folders ({path.name})", "", image_size, channels or 3, cache_dir,
                             progress, order=tuple(sorted({r[1] for r in rows})))
    raise DataError(f"{path} is not a data set medsynth can read: expected an ISIC folder or CSV, a folder of "
                    "class sub-folders of images or DICOM files, or a MedMNIST .npz")


def _looks_like_dicom(root: Path) -> bool:
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(class_dir.iterdir())[:3]:
            if f.is_file():
                with f.open("rb") as fh:
                    head = fh.read(132)
                return len(head) == 132 and head[128:132] == b"DICM" or f.suffix.lower() in (".dcm", ".dicom")
    return False


def _medmnist(path: Path, image_size: int, channels: int, split: str) -> ImageSet:
    images, labels = read_medmnist(path, split)
    if images.shape[1] != image_size:
        mode = "L" if images.shape[-1] == 1 else "RGB"
        images = np.stack([
            np.asarray(Image.fromarray(im.squeeze(-1) if mode == "L" else im, mode).resize(
                (image_size, image_size), Image.Resampling.LANCZOS)).reshape(image_size, image_size, -1)
            for im in images])
    if channels == 3 and images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    elif channels == 1 and images.shape[-1] == 3:
        images = np.round(images @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)[..., None]
    n_classes = int(labels.max()) + 1
    ids = tuple(f"{split}-{i}" for i in range(len(images)))
    return ImageSet(images=np.ascontiguousarray(images), labels=labels,
                    classes=tuple(str(i) for i in range(n_classes)), ids=ids,
                    name=f"MedMNIST {path.stem} ({split})", license=MEDMNIST_LICENSE)


def _cached_files(rows: list[tuple[str, str, Path]], name: str, license: str, size: int, channels: int,
                  cache_dir: Path | None, progress: Callable[[str], None] | None,
                  order: tuple[str, ...]) -> ImageSet:
    key_src = json.dumps([CACHE_VERSION, size, channels, name, order,
                          [(i, c, str(p.resolve()), _stat(p)) for i, c, p in rows]])
    key = hashlib.sha256(key_src.encode()).hexdigest()[:24]
    cache = (cache_dir or default_cache_dir()) / f"images-{key}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as npz:
                skipped = tuple(tuple(s) for s in npz["skipped"].tolist())
                return ImageSet(images=npz["images"], labels=npz["labels"], classes=order,
                                ids=tuple(npz["ids"].tolist()), name=name, license=license,
                                skipped=skipped)  # type: ignore[arg-type]
        except (OSError, KeyError, ValueError):
            pass  # an unreadable cache is rebuilt
    index = {c: i for i, c in enumerate(order)}
    images, labels, ids, skipped = [], [], [], []
    iterator = rows
    try:
        from tqdm import tqdm

        iterator = tqdm(rows, desc=f"reading {name}", unit="img", file=sys.stderr, leave=False)
    except ImportError:
        pass
    for image_id, cls, path in iterator:
        try:
            images.append(read_image(path, size, channels))
        except (OSError, ValueError) as exc:
            skipped.append((image_id, f"{type(exc).__name__}: {exc}"))
            continue
        labels.append(index[cls])
        ids.append(image_id)
    if skipped and progress:
        progress(f"skipped {len(skipped)} unreadable image(s) of {len(rows)}; first: {skipped[0][0]}: {skipped[0][1]}")
    if not images:
        raise DataError(f"no readable images in {name}: {len(skipped)} skipped, first: {skipped[0]}")
    result = ImageSet(images=np.stack(images), labels=np.asarray(labels, dtype=np.int64), classes=order,
                      ids=tuple(ids), name=name, license=license, skipped=tuple(skipped))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, images=result.images, labels=result.labels, ids=np.asarray(ids),
             skipped=np.asarray(skipped, dtype=str).reshape(-1, 2))
    os.replace(tmp, cache)
    return result


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
        return st.st_size, int(st.st_mtime)
    except OSError:
        return -1, -1
