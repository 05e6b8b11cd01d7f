"""A self-contained HTML report of an evaluation: image grids, the metric tables with intervals, the audit."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from medsynth.imageset import ImageSet
from medsynth.metrics.evaluation import Evaluation

__all__ = ["write_report", "image_grid"]

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fff}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#eef}td:first-child,th:first-child{text-align:left}img{image-rendering:pixelated;margin:4px}
.grids{display:flex;flex-wrap:wrap;gap:2em}.note{color:#555;max-width:60em}"""


def image_grid(images: np.ndarray, columns: int = 8, gap: int = 2) -> np.ndarray:
    """Tile a uint8 batch (N, H, W, C) into one image, ``columns`` wide, white gaps."""
    n, h, w, c = images.shape
    rows = max(1, -(-n // columns))
    cols = min(columns, max(n, 1))
    grid = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, c), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, columns)
        grid[r * (h + gap) : r * (h + gap) + h, q * (w + gap) : q * (w + gap) + w] = img
    return grid


def _png_data_uri(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "inf" if np.isinf(v) else f"{v:.4g}"
    return html.escape(str(v))


def _interval(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "–"
    if entry.get("n_boot", 0) == 0:
        return _fmt(entry["value"])
    return f"{_fmt(entry['value'])} [{_fmt(entry['low'])}, {_fmt(entry['high'])}]"


def _metric_rows(d: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("FD", _interval(d.get("fd"))),
        ("FRD (radiomics)", _interval(d.get("frd"))),
        ("relative FD", _fmt(d["relative_fd"]) if "relative_fd" in d else "–"),
    ]
    if "diversity" in d:
        rows.append(("diversity, synthetic / real pairwise distance", _fmt(d["diversity"]["ratio"])))
    if "kid" in d:
        rows.append(("KID", f"{_fmt(d['kid']['mean'])} ± {_fmt(d['kid']['std'])}"))
    for key in ("precision", "recall", "density", "coverage"):
        if "prdc" in d:
            rows.append((key, _fmt(d["prdc"][key])))
    for space, entry in (d.get("c2st") or {}).items():
        floor = entry.get("floor") if entry else None
        rows.append((f"C2ST AUC ({space})", _interval(entry["auc"]) if entry else "–"))
        rows.append((f"C2ST floor, real vs real ({space})", _interval(floor["auc"]) if floor else "–"))
    for name in ("synthetic", "real"):
        if f"inception_score_{name}" in d:
            s = d[f"inception_score_{name}"]
            rows.append((f"Inception Score ({name})", f"{_fmt(s['mean'])} ± {_fmt(s['std'])}"))
    for name, entry in d.get("full_reference", {}).items():
        rows.append((f"{name} (to nearest real)", _interval(entry)))
    if "spectrum" in d:
        s = d["spectrum"]
        fy, fx = s["peak_frequency"]
        rows.append(
            (
                "spectral peak ratio (synthetic/real power)",
                f"{_fmt(s['peak_ratio'])} at ({_fmt(fy)}, {_fmt(fx)}) cycles/px",
            )
        )
        rows.append(("log-spectral distance", f"{_fmt(s['log_spectral_distance_db'])} dB"))
    if "isolated_pixels" in d:
        p = d["isolated_pixels"]
        rows.append(
            (
                "images with an isolated off-colour pixel (synthetic / real)",
                f"{_fmt(p['synthetic_images_affected'])} / {_fmt(p['real_images_affected'])} "
                f"(ratio {_fmt(p['ratio'])}; isolation above {_fmt(p['threshold'])})",
            )
        )
    if "fixed_mark" in d:
        f = d["fixed_mark"]
        rows.append(
            (
                "fine mark at a fixed place, peak (synthetic / real)",
                f"{_fmt(f['synthetic_peak'])} / {_fmt(f['real_peak'])} grey levels "
                f"(ratio {_fmt(f['ratio'])}) at row {f['where'][0]}, column {f['where'][1]}",
            )
        )
    return rows


def _c2st_note(m: dict[str, Any]) -> str:
    """How to read the two-sample test and, in a pretrained space, the caveat of its FD."""
    c2st = m["overall"].get("c2st") or {}
    floors = {e["floor"]["against"] for e in c2st.values() if e and e.get("floor")}
    text = (
        "C2ST: a logistic regression (L2, C = 1, standardised features) tells real from synthetic features "
        "with 5-fold stratified cross-validation; its out-of-fold ROC AUC is 0.5 when the sets are "
        "indistinguishable, 1 when they are separable (interval: bootstrap of the out-of-fold scores). "
        "Both sets are brought to the same class mix first. The floor is the same test between two real "
        "sets ("
        + html.escape(" / ".join(sorted(floors)) or "none")
        + "): what finite samples score without any synthetic image."
    )
    if m["feature_space"] != "radiomics":
        text += (
            " FD, KID and PRDC here are in the space <b>" + html.escape(m["feature_space"]) + "</b>. A "
            "discriminator built on the same pretrained network (medsynth's <code>--arch projected</code> "
            "uses EfficientNet-Lite0 features) makes these numbers optimistic (Kynkäänniemi et al., "
            "ICLR 2023): read them beside FRD and the C2ST."
        )
    return f"<p class='note'>{text}</p>"


def _histogram_svg(a: np.ndarray, b: np.ndarray, threshold: float, labels: tuple[str, str]) -> str:
    """Two overlaid distance histograms and the copy threshold as an inline SVG."""
    width, height, bins = 480, 160, 30
    hi = float(max(a.max(), b.max(), threshold)) or 1.0
    edges = np.linspace(0.0, hi, bins + 1)
    ha = np.histogram(a, edges)[0] / max(a.size, 1)
    hb = np.histogram(b, edges)[0] / max(b.size, 1)
    top = max(ha.max(), hb.max()) or 1.0
    bw = width / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}">']
    for hist, colour in ((ha, "rgba(200,60,60,0.6)"), (hb, "rgba(60,90,200,0.6)")):
        for i, v in enumerate(hist):
            bar = v / top * height
            parts.append(
                f'<rect x="{i * bw:.1f}" y="{height - bar:.1f}" width="{bw - 1:.1f}" height="{bar:.1f}" '
                f'fill="{colour}"/>'
            )
    x = threshold / hi * width
    parts.append(
        f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="black" stroke-dasharray="4"/>'
    )
    parts.append(
        f'<text x="4" y="{height + 15}" font-size="12" fill="rgb(200,60,60)">{html.escape(labels[0])}</text>'
    )
    parts.append(
        f'<text x="240" y="{height + 15}" font-size="12" fill="rgb(60,90,200)">'
        f"{html.escape(labels[1])}</text></svg>"
    )
    return "".join(parts)


def write_report(
    path: Path,
    evaluation: Evaluation,
    real: ImageSet,
    synthetic: ImageSet,
    closest_pairs_png: Path | None = None,
    per_grid: int = 16,
) -> Path:
    """Write the evaluation as one self-contained HTML file (images embedded as base64 PNG, no external
    links).

    Parameters
    ----------
    path : pathlib.Path
        The HTML file to write.
    evaluation : Evaluation
        What :func:`medsynth.metrics.evaluation.evaluate_sets` returned.
    real, synthetic : ImageSet
        The sets, for the per-class grids.
    closest_pairs_png : pathlib.Path, optional
        The closest-pairs image of the memorization audit, embedded when given.
    per_grid : int
        Images per grid.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    m = evaluation.metrics
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>medsynth evaluation</title>",
        f"<style>{_CSS}</style></head><body><h1>medsynth evaluation</h1>",
        f"<p class='note'>Real: {html.escape(real.name)} ({len(real.labels)} images). Synthetic: "
        f"{html.escape(synthetic.name)} ({len(synthetic.labels)} images). Image shape {m['image_shape']}. "
        f"Feature space: <b>{html.escape(m['feature_space'])}</b>. Intervals: "
        f"{int(m['config']['level'] * 100)} % bias-shifted percentile bootstrap, "
        f"{m['config']['n_boot']} resamples.</p>",
    ]
    out.append(_c2st_note(m))
    out.append("<h2>Overall</h2><table><tr><th>metric</th><th>value [interval]</th></tr>")
    out += [f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in _metric_rows(m["overall"])]
    out.append("</table>")
    if m["per_class"]:
        classes = list(m["per_class"])
        rows = {c: dict(_metric_rows(m["per_class"][c])) for c in classes}
        names = list(rows[classes[0]])
        out.append(
            "<h2>Per class</h2><table><tr><th>metric</th>"
            + "".join(
                f"<th>{html.escape(c)} ({m['per_class'][c]['n_real']} real, "
                f"{m['per_class'][c]['n_synthetic']} synthetic)</th>"
                for c in classes
            )
            + "</tr>"
        )
        for name in names:
            out.append(
                f"<tr><td>{html.escape(name)}</td>"
                + "".join(f"<td>{rows[c].get(name, '–')}</td>" for c in classes)
                + "</tr>"
            )
        out.append("</table>")
    out.append("<h2>Images</h2>")
    for cls in m["per_class"] or [None]:
        out.append(f"<h3>{html.escape(cls or 'all classes')}</h3><div class='grids'>")
        for label, s in (("real", real), ("synthetic", synthetic)):
            imgs = (s.images if cls is None else s.of_class(cls))[:per_grid]
            if len(imgs):
                out.append(
                    f"<figure><img alt='{label} {html.escape(cls or '')}' "
                    f"src='{_png_data_uri(image_grid(imgs))}'>"
                    f"<figcaption>{label}</figcaption></figure>"
                )
        out.append("</div>")
    out.append("<h2>Memorization audit</h2>")
    if not evaluation.memorization:
        out.append("<p class='note'>No training set given (--train), so no audit.</p>")
    for res in evaluation.memorization.values():
        summary = res.summary()
        out.append(
            f"<h3>{html.escape(res.space)}</h3><p class='note'>Copy rate {_fmt(summary['copy_rate'])} "
            f"({summary['n_copies']} of {summary['n_synthetic']} synthetic images closer to a training image "
            f"than the {_fmt(res.percentile)}th percentile of held-out real images, {_fmt(res.threshold)}); "
            f"median distance ratio {_fmt(summary['median_ratio'])} (synthetic / held-out real).</p>"
        )
        out.append(
            _histogram_svg(
                res.synthetic_to_train,
                res.holdout_to_train,
                res.threshold,
                ("synthetic → nearest train", "held-out real → nearest train"),
            )
        )
    if closest_pairs_png is not None and closest_pairs_png.is_file():
        uri = "data:image/png;base64," + base64.b64encode(closest_pairs_png.read_bytes()).decode("ascii")
        out.append(
            "<h3>Closest pairs (synthetic | nearest training image, pixel space)</h3>"
            f"<img alt='closest pairs' src='{uri}'>"
        )
    out.append("</body></html>")
    path.write_text("\n".join(out), encoding="utf-8")
    return path
