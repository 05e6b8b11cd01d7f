"""``medsynth generate``: labeled synthetic images, with a manifest, into a folder."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from medsynth._session import DEVICES
from medsynth.balance import counts_by_class, plan_balance, read_label_counts
from medsynth.cli.send import pacs_options, print_report, send_and_report
from medsynth.errors import ArgumentError, ModelError, SendError
from medsynth.generator import DEFAULT_BATCH_SIZE, Generator
from medsynth.pacs.destination import parse_destination
from medsynth.registry import DEFAULT_MODEL, REGISTRY
from medsynth.writers.formats import FORMATS
from medsynth.writers.png import DEFAULT_PNG_COMPRESSION
from medsynth.writers.run import RunSummary, write_run

__all__ = ["generate"]


def _class_arg(gen: Generator, value: str) -> str | int:
    """A --class value: a class name, or else a class index written as digits."""
    return int(value) if value not in gen.classes and value.isdigit() else value


def _target(value: str) -> str | int:
    if value == "max":
        return value
    if value.isdigit():
        return int(value)
    raise ArgumentError(f"--target must be 'max' or a non-negative integer, got {value!r}")


def _plan(
    gen: Generator,
    classes: tuple[str, ...],
    counts: tuple[int, ...],
    balance_from: Path | None,
    label_column: str,
    target: str,
) -> dict[str | int, int]:
    """Turn the options into class -> count, refusing conflicting or missing ones.

    The i-th ``--n`` is the count of the i-th ``--class``; their numbers must agree.
    """
    if balance_from is not None:
        if classes or counts:
            raise ArgumentError("--balance-from decides the classes and counts itself; drop --class and --n")
        label_counts = read_label_counts(balance_from, label_column)
        real = counts_by_class(label_counts, gen.card, source=str(balance_from))
        return {name: n for name, n in plan_balance(real, _target(target)).items()}
    if not classes:
        raise ArgumentError(
            "say what to generate: --class NAME --n N (repeat --class for several classes), "
            "or --balance-from labels.csv"
        )
    if not counts:
        raise ArgumentError("--class needs --n, the number of images of that class")
    if len(counts) != len(classes):
        pairs = " ".join(f"--class {value} --n N" for value in classes)
        raise ArgumentError(
            f"{len(classes)} --class but {len(counts)} --n: give one --n per --class, in the "
            f"same order ({pairs})"
        )
    plan: dict[str | int, int] = {}
    for value, n in zip(classes, counts, strict=True):
        cls = _class_arg(gen, value)
        name = gen.classes[gen.card.class_index(cls)]
        if any(gen.classes[gen.card.class_index(seen)] == name for seen in plan):
            raise ArgumentError(f"--class {value} is given twice (class {name!r}); give each class once")
        plan[cls] = n
    return plan


def _summary_line(summary: RunSummary) -> str:
    per_class = ", ".join(f"{name} {count}" for name, count in summary.per_class.items())
    kept = f"; {summary.skipped} were already there" if summary.skipped else ""
    return (
        f"{summary.total} images ({per_class}) in {summary.out} as {summary.format}, "
        f"{summary.written} written now{kept}; manifest {summary.manifest}"
    )


@click.command(name="generate")
@click.option(
    "--class",
    "classes",
    multiple=True,
    metavar="NAME|INDEX",
    help="Class to generate, by name or index; repeat for several, each with its --n.",
)
@click.option(
    "--n",
    "counts",
    type=click.IntRange(min=1),
    multiple=True,
    help="Images of the class given by the --class in the same position: --class A --n 4 --class B --n 2.",
)
@click.option(
    "--balance-from",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Labels CSV of the real data set: generate what balances it (instead of --class/--n).",
)
@click.option(
    "--label-column",
    default="diagnosis",
    show_default=True,
    help="Column of --balance-from that holds the class.",
)
@click.option(
    "--target",
    default="max",
    show_default=True,
    help="With --balance-from: top every class up to the largest one ('max') or to N images.",
)
@click.option(
    "--model",
    "model",
    default=None,
    metavar="PATH|NAME",
    help="ONNX generator file or bundled model name (default: the bundled default model).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("synthetic"),
    show_default=True,
    help="Output folder (new, empty, or an earlier run of this model and seed).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(FORMATS)),
    default="png",
    show_default=True,
    help="png: <out>/<class>/*.png; npz: <out>/images.npz; dcm: DICOM Secondary Capture files.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Run seed; image i of a class is the same for the same model and seed.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Images per inference call (does not change the images).",
)
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="cuda fails if CUDA cannot be had; auto uses it when available.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="onnxruntime threads (default: one per core; does not change the images).",
)
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="Spread the work over a Ray cluster: auto, host:port or ray://host:port (needs "
    "medsynth[ray]; --out must be shared storage for png/dcm). Same files as without it.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="With --ray: Ray actors to start (default: the cluster's CPUs / --threads).",
)
@click.option("--wait", is_flag=True, help="If another run is writing to --out, wait for it (else: fail).")
@click.option(
    "--no-fsync",
    "no_fsync",
    is_flag=True,
    help="Do not fsync files before publishing them: faster, but a power loss may leave files that "
    "the next run must regenerate (a kill is still safe).",
)
@click.option(
    "--png-compression",
    type=click.IntRange(0, 9),
    default=None,
    metavar="LEVEL",
    help=f"With --format png: zlib level 0 (fastest) to 9 (smallest) [default: "
    f"{DEFAULT_PNG_COMPRESSION}]; changes the bytes, never the pixels.",
)
@click.option(
    "--send",
    "send_to",
    default=None,
    metavar="URL",
    help="With --format dcm: send the files to this PACS while they are written (as medsynth send "
    "FOLDER --to URL does; with --ray: once the run is written).",
)
@pacs_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(
    classes: tuple[str, ...],
    counts: tuple[int, ...],
    balance_from: Path | None,
    label_column: str,
    target: str,
    model: str | None,
    out: Path,
    fmt: str,
    seed: int,
    batch_size: int,
    device: str,
    threads: int | None,
    ray_address: str | None,
    workers: int | None,
    wait: bool,
    no_fsync: bool,
    png_compression: int | None,
    send_to: str | None,
    calling_aet: str,
    user: str | None,
    token: str | None,
    ca_file: Path | None,
    retries: int,
    quiet: bool,
) -> None:
    """Generate labeled synthetic images from a model, with a manifest.csv.

    \b
    Examples:
      medsynth generate --class melanoma --n 1000 --out synthetic
      medsynth generate --class melanoma --n 800 --class seborrheic_keratosis --n 1100
      medsynth generate --model my.onnx --balance-from labels.csv --label-column diagnosis --out synth
      medsynth generate --class melanoma --n 100 --format dcm --send dicom://ORTHANC@pacs:4242
      medsynth generate --class melanoma --n 100000 --ray auto --out /shared/synth
    """
    from tqdm import tqdm

    if workers is not None and not ray_address:
        raise ArgumentError("--workers needs --ray ADDRESS")
    if png_compression is not None and fmt != "png":
        raise ArgumentError(f"--png-compression is for --format png, not {fmt}")
    if png_compression is not None and ray_address:
        raise ArgumentError(
            "--png-compression is not supported with --ray yet (the Ray workers write at "
            f"level {DEFAULT_PNG_COMPRESSION}); drop one of them"
        )
    if send_to is not None:
        if fmt != "dcm":
            raise ArgumentError("--send needs --format dcm: a PACS stores DICOM files")
        parse_destination(send_to)  # a bad URL is refused before anything is generated
    if model is None and DEFAULT_MODEL not in REGISTRY:
        raise ModelError(
            f"no bundled model is installed yet (the default model {DEFAULT_MODEL!r} is not "
            "part of this install); pass --model PATH, the path of a medsynth ONNX generator"
        )
    # With --ray the driver's own model only checks the run; the Ray actors generate on --device.
    gen = (
        Generator.load(model, device="cpu", threads=1)
        if ray_address
        else Generator.load(model, device=device, threads=threads)
    )
    plan = _plan(gen, classes, counts, balance_from, label_column, target)
    if balance_from is not None and not any(plan.values()):
        click.echo(f"{balance_from} is already balanced for target {target}; nothing to generate")
        return
    bars: list[tqdm] = []

    def progress(done: int, total: int) -> None:
        # The bar starts at the first report, i.e. once the run has passed its checks; it counts only the
        # images made by this call, not those an earlier run left.
        if not bars:
            bars.append(
                tqdm(
                    total=total,
                    unit="img",
                    file=sys.stderr,
                    disable=quiet,
                    dynamic_ncols=True,
                    desc=f"{gen.card.name} -> {out}",
                )
            )
        bars[0].update(done - bars[0].n)

    with contextlib.ExitStack() as stack:
        sender = None
        if send_to is not None and not ray_address:
            from medsynth.pacs.stream import StreamingSender

            # Each batch is sent while the next is generated; the sender is closed whatever happens.
            sender = stack.enter_context(
                StreamingSender(
                    out,
                    send_to,
                    calling_aet=calling_aet,
                    user=user,
                    token=token,
                    ca_file=ca_file,
                    retries=retries,
                )
            )
        try:
            if ray_address:
                from medsynth.ray_run import write_run_on_ray

                summary = write_run_on_ray(
                    gen,
                    plan,
                    out,
                    address=ray_address,
                    fmt=fmt,
                    seed=seed,
                    batch_size=batch_size,
                    workers=workers,
                    cpus_per_worker=threads or 1,
                    device=device if device != "auto" else "cpu",
                    progress=progress,
                    wait=wait,
                    fsync=not no_fsync,
                )
            else:
                summary = write_run(
                    gen,
                    plan,
                    out,
                    fmt=fmt,
                    seed=seed,
                    batch_size=batch_size,
                    progress=progress,
                    wait=wait,
                    fsync=not no_fsync,
                    published=None if sender is None else sender.submit,
                    png_compression=png_compression,
                )
        except SendError as exc:
            raise SendError(
                f"{exc}; generation stopped, the files written so far stay in {out} and the same "
                "command resumes"
            ) from exc
        finally:
            for bar in bars:
                bar.close()
        click.echo(_summary_line(summary))
        if sender is not None and send_to is not None:
            print_report(sender.finish(), send_to)
    if send_to is not None and ray_address:
        send_and_report(
            out,
            send_to,
            calling_aet=calling_aet,
            user=user,
            token=token,
            ca_file=ca_file,
            retries=retries,
            quiet=quiet,
        )
