"""Packaging: the wheel holds every subpackage, and ``import medsynth`` stays light (no torch, numba, ...)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "torch",
    "numba",
    "pydicom",
    "onnx",
    "onnxruntime",
    "PIL",
    "scipy",
    "matplotlib",
    "sklearn",
    "skimage",
    "safetensors",
    "yaml",
    "ray",
)


def _config():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_of(folder: Path, package_dir: dict[str, str]) -> str:
    """The import name of a source folder under the package-dir mapping."""
    best = max(
        (name for name, where in package_dir.items() if folder.is_relative_to(ROOT / where)),
        key=lambda name: len(package_dir[name]),
    )
    rest = folder.relative_to(ROOT / package_dir[best]).parts
    return ".".join((best, *rest))


def test_every_source_folder_is_a_listed_package():
    config = _config()
    package_dir, packages = config["package-dir"], set(config["packages"])
    for where in set(package_dir.values()):
        for source in sorted((ROOT / where).rglob("*.py")):
            folder = source.parent
            if "__pycache__" in folder.parts:
                continue
            name = _package_of(folder, package_dir)
            assert name in packages, f"{folder} has .py files but {name} is not in [tool.setuptools] packages"
            assert (folder / "__init__.py").is_file(), f"{folder} needs an __init__.py"


def test_built_wheel_contains_every_package(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    for name in ("sdk", "training", "export"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, source / name)
    build = [
        sys.executable,
        "-m",
        "build",
        "--wheel",
        "--no-isolation",
        "--skip-dependency-check",
        "--outdir",
        str(tmp_path / "dist"),
        str(source),
    ]
    built = subprocess.run(build, capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    # The licence is an SPDX expression (PEP 639), not the deprecated table.
    assert "SetuptoolsDeprecationWarning" not in built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("medsynth-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = {n.rsplit("/", 1)[1]: archive.read(n).decode() for n in names if ".dist-info/" in n}
    metadata, entry_points = info["METADATA"], info["entry_points.txt"]
    for package in _config()["packages"]:
        assert f"{package.replace('.', '/')}/__init__.py" in names, f"{package} missing from the wheel"
    assert "medsynth/py.typed" in names
    for shipped in ("efficientnet-lite0.onnx", "NOTICE", "LICENSE"):  # the perceptual space and its licence
        assert f"medsynth/features/{shipped}" in names
    assert "medsynth = medsynth.cli:main" in entry_points
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    torch_lines = [line for line in requires if line.split()[1].startswith("torch")]
    assert torch_lines and all("extra ==" in line for line in torch_lines), torch_lines


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_import_medsynth_is_light():
    loaded = _modules_after("import medsynth\nfrom medsynth import Generator, ModelCard, plan_balance")
    assert not {name for name in HEAVY if name in loaded}
    assert "medsynth.generator" in loaded


def test_cli_help_imports_no_command_and_no_heavy_library():
    loaded = _modules_after(
        "from click.testing import CliRunner\nfrom medsynth.cli import main\n"
        "assert CliRunner().invoke(main, ['--help']).exit_code == 0"
    )
    assert not {name for name in HEAVY if name in loaded}
    assert not {name for name in loaded if name.startswith(("medsynth.training", "medsynth.export"))}


def test_python_m_medsynth_is_the_cli_and_imports_no_torch():
    probe = (
        "import runpy, sys\nsys.argv = ['medsynth', '--help']\ntry:\n"
        "    runpy.run_module('medsynth', run_name='__main__')\nexcept SystemExit as exit_:\n"
        "    assert exit_.code == 0, exit_.code"
    )
    loaded = _modules_after(probe)
    assert "medsynth.cli" in loaded
    assert not {name for name in HEAVY if name in loaded}
