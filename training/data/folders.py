"""A class-per-folder tree: ``root/<class name>/<image files>``."""

from __future__ import annotations

from pathlib import Path

from medsynth.metrics.imageset import IMAGE_SUFFIXES


def read_class_folders(root: Path) -> list[tuple[str, str, Path]]:
    """Rows (image id, class name, path) for every image file one level below ``root``'s class folders."""
    rows: list[tuple[str, str, Path]] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(class_dir.iterdir()):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                rows.append((f"{class_dir.name}/{path.stem}", class_dir.name, path))
    return rows


def class_folders(root: Path) -> list[str]:
    """Names of the class folders of ``root`` (empty when ``root`` is not a class-per-folder tree)."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
