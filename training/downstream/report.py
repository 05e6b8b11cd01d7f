"""What a utility run leaves behind: utility.json, utility.png and the printed table; the --out check."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from medsynth.errors import OutputError
from medsynth.writers._atomic import atomic_write_bytes, remove_stale_temps

__all__ = ["KIND", "check_out", "write_outputs", "table"]

KIND = "medsynth-utility"  # the "kind" of utility.json; an --out holding one may be overwritten
JSON_NAME, PLOT_NAME = "utility.json", "utility.png"


def check_out(out: Path) -> None:
    """Refuse an --out that is a file, or a non-empty folder that is not an earlier utility output.

    Raises
    ------
    OutputError
        The folder cannot be used; the message says what to do.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a folder; choose another --out")
    if not out.exists() or not any(out.iterdir()):
        return
    previous = out / JSON_NAME
    try:
        kind = json.loads(previous.read_text(encoding="utf-8")).get("kind") if previous.is_file() else None
    except (OSError, ValueError, AttributeError):
        kind = None
    if kind != KIND:
        raise OutputError(
            f"--out {out} is not empty and holds no earlier 'medsynth utility' result "
            f"({JSON_NAME}); choose an empty or new folder"
        )


def write_outputs(out: Path, result: dict[str, Any]) -> tuple[Path, Path]:
    """Write utility.json and utility.png into ``out`` (created if needed), each atomically.

    Raises
    ------
    OutputError
        The folder or a file cannot be written.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)
        json_path, plot_path = out / JSON_NAME, out / PLOT_NAME
        atomic_write_bytes(plot_path, _plot_png(result))
        atomic_write_bytes(json_path, (json.dumps(result, indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise OutputError(f"cannot write the utility results to {out}: {exc}") from exc
    return json_path, plot_path


def _cell(result: dict[str, Any], arm: str, group: str, cls: str | None = None) -> str:
    def pick(d: dict[str, Any] | None) -> Any:
        if d is None:
            return None
        return d[group] if cls is None else d[group][cls]

    entry = result["arms"][arm]
    text = f"{pick(entry['mean']):.3f}"
    if entry["std"] is not None:
        text += f"±{pick(entry['std']):.3f}"
    if "interval" in entry:
        text += f" [{pick(entry['interval']['low']):.2f},{pick(entry['interval']['high']):.2f}]"
    return text


def _diff_cell(diff: dict[str, Any], group: str, cls: str | None = None) -> str:
    def pick(d: dict[str, Any]) -> Any:
        return d[group] if cls is None else d[group][cls]

    text = f"{pick(diff['mean']):+.3f}"
    if "interval" in diff:
        text += f" [{pick(diff['interval']['low']):+.2f},{pick(diff['interval']['high']):+.2f}]"
    return text


def table(result: dict[str, Any]) -> str:
    """The printed summary: one row per arm (mean ± std over seeds [95% bootstrap interval]) and one per
    difference to arm (a)."""
    classes = result["model"]["classes"]
    columns: list[tuple[str, str, str | None]] = [
        ("balanced acc", "balanced_accuracy", None),
        ("macro AUROC", "macro_auroc", None),
    ]
    columns += [(f"recall {c}", "recall", c) for c in classes]
    screen = "sensitivity_at_80_specificity"
    columns += [
        (f"sens@80%spec {c}", screen, c)
        for c in classes
        if c in result["arms"][next(iter(result["arms"]))]["mean"].get(screen, {})
    ]
    rows = [["arm", *(name for name, _, _ in columns)]]
    for key, entry in result["arms"].items():
        rows.append([entry["label"], *(_cell(result, key, g, c) for _, g, c in columns)])
    for diff in result["differences"].values():
        rows.append([diff["label"], *(_diff_cell(diff, g, c) for _, g, c in columns)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _plot_png(result: dict[str, Any]) -> bytes:
    """Grouped bars: balanced accuracy and per-class recall per arm (mean over seeds), error bars = the 95%
    bootstrap interval (or ± one std over seeds when there are no resamples)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = result["model"]["classes"]
    groups = [("balanced accuracy", "balanced_accuracy", None)] + [
        (f"recall\n{c}", "recall", c) for c in classes
    ]
    arms = result["arms"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(groups), 3.6), dpi=100)
    width = 0.8 / len(arms)
    for i, entry in enumerate(arms.values()):

        def pick(d: dict[str, Any], group: str, cls: str | None) -> float:
            return float(d[group] if cls is None else d[group][cls])

        means = [pick(entry["mean"], g, c) for _, g, c in groups]
        err: list[list[float]] | list[float] | None  # matplotlib's yerr: (below, above) or symmetric
        if "interval" in entry:
            low = [pick(entry["interval"]["low"], g, c) for _, g, c in groups]
            high = [pick(entry["interval"]["high"], g, c) for _, g, c in groups]
            err = [
                [m - lo for m, lo in zip(means, low, strict=True)],
                [hi - m for m, hi in zip(means, high, strict=True)],
            ]
        elif entry["std"] is not None:
            err = [pick(entry["std"], g, c) for _, g, c in groups]
        else:
            err = None
        xs = [k + (i - (len(arms) - 1) / 2) * width for k in range(len(groups))]
        ax.bar(xs, means, width, yerr=err, capsize=3, label=entry["label"])
    ax.set_xticks(range(len(groups)), [name for name, _, _ in groups])
    ax.set_ylim(0, 1)
    ax.set_ylabel("on the real validation split")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    seeds = len(next(iter(arms.values()))["per_seed"])
    bars = "95% stratified bootstrap interval" if "interval" in next(iter(arms.values())) else "±1 std"
    ax.set_title(f"{result['model']['name']}: mean of {seeds} seed(s), error bars {bars}", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
