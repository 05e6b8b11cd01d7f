"""Run seeded mutants of medsynth's input formats and report every exception that is not a MedsynthError.

Run in a subprocess by ``tests/test_fuzz_inputs.py`` (so that a native crash or a hang fails the test with
its seed instead of killing pytest): ``python tests/fuzz_worker.py SEED CPU_BUDGET_S WORKDIR``. Prints one
JSON object: mutants run per kind and the failures (kind, mutation, exception).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

KINDS = ("onnx", "card", "png", "npz", "csv")


def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    buffer = bytearray(data)
    kind = str(rng.choice(["bytes", "integer", "delete", "duplicate", "truncate", "insert"]))
    at = int(rng.integers(0, max(1, len(buffer))))
    if kind == "bytes":
        for _ in range(int(rng.integers(1, 9))):
            buffer[int(rng.integers(0, len(buffer)))] = int(rng.integers(0, 256))
    elif kind == "integer":
        value = int(rng.choice([0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
        buffer[at : at + 4] = value.to_bytes(4, "little")
    elif kind == "delete":
        del buffer[at : at + int(rng.integers(1, 64))]
    elif kind == "duplicate":
        length = int(rng.integers(1, 64))
        buffer[at:at] = buffer[at : at + length]
    elif kind == "truncate":
        del buffer[at:]
    else:
        buffer[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 16))).astype(np.uint8))
    return bytes(buffer), f"{kind}@{at}"


def mutate_text(text: str, rng: np.random.Generator) -> tuple[str, str]:
    pieces = [
        '"',
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "-1",
        "1e999",
        "null",
        "true",
        "\\u0000",
        "/",
        "..",
        "\n",
        "CON",
        "9" * 30,
        '"classes": []',
        '"latent_dim": 1000000000',
        '"a:b"',
    ]
    at = int(rng.integers(0, len(text)))
    if rng.random() < 0.5:
        piece = pieces[int(rng.integers(len(pieces)))]
        return text[:at] + piece + text[at:], f"insert {piece!r}@{at}"
    data, how = mutate(text.encode("utf-8"), rng)
    return data.decode("utf-8", errors="replace"), how


def run(seed: int, budget_s: float, work: Path) -> dict[str, object]:
    import onnx
    from click.testing import CliRunner
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).parent))
    from helpers.models import build_model, make_card  # the tiny generator of the test suite

    from medsynth.cli import main
    from medsynth.errors import MedsynthError
    from medsynth.imageset import load_image_set
    from medsynth.model_card import ModelCard

    rng = np.random.default_rng(seed)
    work.mkdir(parents=True, exist_ok=True)
    card = make_card()
    model_bytes = build_model(card).SerializeToString()
    card_text = card.to_json()
    png = work / "seed.png"
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(png)
    png_bytes = png.read_bytes()
    npz = work / "seed.npz"
    np.savez(
        npz,
        images=np.zeros((2, 8, 8, 3), np.uint8),
        labels=np.array([0, 1]),
        class_names=np.array(["a", "b"]),
    )
    npz_bytes = npz.read_bytes()
    (work / "img").mkdir(exist_ok=True)
    (work / "img" / "0.png").write_bytes(png_bytes)
    csv_bytes = b"path,diagnosis\nimg/0.png,nevus\nimg/0.png,melanoma\n"
    runner = CliRunner()
    counts = dict.fromkeys(KINDS, 0)
    failures: list[dict[str, str]] = []

    def attempt(kind: str, how: str, action) -> None:  # type: ignore[no-untyped-def]
        counts[kind] += 1
        try:
            action()
        except MedsynthError:
            pass
        except Exception as exc:  # noqa: BLE001 - the point: anything else is a failure
            failures.append(
                {
                    "kind": kind,
                    "mutation": how,
                    "error": f"{type(exc).__name__}: {exc}"[:300],
                    "where": traceback.format_exc().splitlines()[-3][:200],
                }
            )

    def cli_info(path: Path) -> None:
        result = runner.invoke(main, ["info", str(path)])
        if result.exit_code not in (0, 2) or (
            result.exception and not isinstance(result.exception, SystemExit)
        ):
            raise RuntimeError(f"exit {result.exit_code}: {result.exception!r}")
        if result.exit_code == 2 and not (
            result.output.startswith("Error: ") and result.output.count("\n") == 1
        ):
            raise RuntimeError(f"not one error line: {result.output[:200]!r}")

    start = time.process_time()
    k = 0
    while time.process_time() - start < budget_s:
        kind = KINDS[k % len(KINDS)]
        k += 1
        if kind == "onnx":
            data, how = mutate(model_bytes, rng)
            path = work / "m.onnx"
            path.write_bytes(data)
            attempt(kind, how, lambda p=path: cli_info(p))
        elif kind == "card":
            text, how = mutate_text(card_text, rng)
            if rng.random() < 0.1:  # through a model file and the CLI
                model = build_model(card)
                entry = next(e for e in model.metadata_props if e.key == "medsynth")
                entry.value = text
                path = work / "c.onnx"
                onnx.save(model, path)
                attempt(kind, how, lambda p=path: cli_info(p))
            else:
                attempt(kind, how, lambda t=text: ModelCard.from_json(t, source="fuzz"))
        elif kind == "png":
            data, how = mutate(png_bytes, rng)
            (work / "pngs").mkdir(exist_ok=True)
            (work / "pngs" / "x.png").write_bytes(data)
            attempt(kind, how, lambda: load_image_set(work / "pngs"))
        elif kind == "npz":
            data, how = mutate(npz_bytes, rng)
            (work / "x.npz").write_bytes(data)
            attempt(kind, how, lambda: load_image_set(work / "x.npz", max_npz_bytes=1 << 24))
        else:
            data, how = mutate(csv_bytes, rng)
            (work / "labels.csv").write_bytes(data)
            attempt(kind, how, lambda: load_image_set(work / "labels.csv"))
    return {"seed": seed, "counts": counts, "failures": failures[:50], "n_failures": len(failures)}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3]))))
