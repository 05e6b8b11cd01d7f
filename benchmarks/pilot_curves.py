"""Compare training runs by their validation curves against wall time (the pilots of docs/training.md).

Reads each run folder's latest checkpoint description (its history holds one record per epoch, with the
validation FDs of every space the run logged), prints one row per run (architecture, size, batch, iterations,
seconds per iteration and images per second over the whole run, validations included, first, best and last
FD per space) and plots FD against wall-clock minutes, one panel per space, one line per run.

    python benchmarks/pilot_curves.py runs/pilot-* --out docs/images/pilots.png
"""

from __future__ import annotations

import argparse
from pathlib import Path


def read_run(folder: Path) -> dict:
    """The latest checkpoint's meta of ``folder``: config values and history."""
    from medsynth.training.checkpoint import load_meta

    meta = load_meta(folder)
    return {
        "name": folder.name,
        "config": meta.config,
        "history": list(meta.history),
        "iters": meta.iteration,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (--out of medsynth train)")
    parser.add_argument("--out", type=Path, help="write the figure here (PNG)")
    args = parser.parse_args()
    from medsynth.training.plots import VALIDATION_CURVES  # the spaces a run validates in, as curves.png

    spaces = [(key, label) for key, label, _ in VALIDATION_CURVES]
    runs = [read_run(folder) for folder in args.runs]
    head = f"{'run':24} {'arch':10} {'size':>4} {'batch':>5} {'iters':>6} {'min':>5} {'s/it':>6} {'img/s':>6}"
    print(head + "".join(f" {key[7:] + ' first/best/last':>27}" for key, _ in spaces))
    for run in runs:
        cfg, history = run["config"], run["history"]
        minutes = history[-1]["wall_time_s"] / 60 if history else 0.0
        s_it = history[-1]["wall_time_s"] / max(run["iters"], 1) if history else float("nan")
        row = (
            f"{run['name']:24} {cfg.arch:10} {cfg.image_size:>4} {cfg.batch_size:>5} {run['iters']:>6} "
            f"{minutes:>5.1f} {s_it:>6.3f} {cfg.batch_size / s_it:>6.1f}"
        )
        for key, _ in spaces:
            values = [h[key] for h in history if key in h]
            row += f" {values[0]:>8.3g} {min(values):>8.3g} {values[-1]:>8.3g}" if values else f" {'-':>26}"
        print(row)
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from medsynth._primitives import atomic_open

        fig, axes = plt.subplots(1, len(spaces), figsize=(5 * len(spaces), 3.8), dpi=100)
        for ax, (key, title) in zip(axes, spaces, strict=True):
            for run in runs:
                pts = [(h["wall_time_s"] / 60, h[key]) for h in run["history"] if key in h]
                if pts:
                    ax.plot(*zip(*pts, strict=True), marker=".", label=run["name"])
            ax.set_title(title), ax.set_xlabel("wall time (min)"), ax.set_yscale("log")
            ax.grid(alpha=0.3)
            if ax.get_lines():
                ax.legend(fontsize=8)
        fig.tight_layout()
        with atomic_open(args.out) as handle:
            fig.savefig(handle, format="png")
        plt.close(fig)
        print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
