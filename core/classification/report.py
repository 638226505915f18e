"""A self-contained HTML report of an evaluation: figures are inline PNGs, no external assets."""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime

import matplotlib
import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from core.classification.metrics import EvalResult

matplotlib.use("Agg")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child, td.label { text-align: left; }
.summary td:first-child { font-weight: 600; }
.row { display: flex; gap: 2em; align-items: flex-start; flex-wrap: wrap; }
img { max-width: 100%; height: auto; }
.low { background: #fde2e2; }
"""


def _png(fig: Figure, dpi: int = 110) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(fig: Figure, alt: str, dpi: int = 110) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig, dpi)}">'


def confusion_figure(result: EvalResult) -> Figure:
    """Heat map of the confusion matrix, rows normalised by the true label's count."""
    labels = result.confusion_labels
    matrix = np.asarray(result.confusion, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    share = matrix / np.where(totals > 0, totals, 1)
    n = len(labels)
    size = min(max(4.0, 0.16 * n + 2.5), 18.0)
    font = 8 if n <= 20 else max(4.5, 8 - n / 20)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    # square-root colour scale: the few-percent confusions stay visible next to the diagonal
    norm = PowerNorm(0.5, vmin=0, vmax=1)
    image = ax.imshow(share, cmap="Blues", norm=norm, interpolation="nearest")
    ax.set_xticks(range(n), labels=labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels=labels, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (share of each true label, square-root colour scale)")
    fig.colorbar(image, ax=ax, fraction=0.035, pad=0.02)
    return fig


def reliability_figure(result: EvalResult) -> Figure:
    """Reliability diagram: accuracy against confidence per bin, with the bin counts."""
    fig = Figure(figsize=(5.5, 6.5))
    ax, counts = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    bins = result.reliability
    width = bins[0].upper - bins[0].lower if bins else 1.0
    lefts = [b.lower for b in bins]
    ax.bar(
        lefts,
        [b.accuracy or 0.0 for b in bins],
        width=width,
        align="edge",
        edgecolor="#1f4e79",
        color="#5b9bd5",
        label="accuracy",
    )
    ax.bar(
        lefts,
        [(b.mean_confidence or 0.0) - (b.accuracy or 0.0) for b in bins],
        bottom=[b.accuracy or 0.0 for b in bins],
        width=width,
        align="edge",
        color="#f4b183",
        alpha=0.6,
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability (ECE {result.ece:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    counts.bar(lefts, [b.count for b in bins], width=width, align="edge", color="#a5a5a5")
    counts.set_xlabel("confidence")
    counts.set_ylabel("messages")
    return fig


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_html(
    result: EvalResult, title: str, latency_ms_p50: float | None = None, top_pairs: int = 25
) -> str:
    """One HTML page: summary, confusion heat map + top confusions, per-label table, reliability."""
    esc = html.escape
    summary = [
        ("messages", str(result.n)),
        ("accuracy", _fmt(result.accuracy)),
        ("macro-F1", _fmt(result.macro_f1)),
        ("team accuracy", _fmt(result.team_accuracy)),
        ("ECE (15 bins)", _fmt(result.ece)),
        (f"abstain rate (confidence < {result.abstain_below:g})", _fmt(result.abstain_rate)),
        ("accuracy when answered", _fmt(result.accuracy_when_answered)),
    ]
    if latency_ms_p50 is not None:
        summary.append(("latency p50 (ms)", f"{latency_ms_p50:.2f}"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>",
        '<table class="summary">',
        *(f"<tr><td>{esc(name)}</td><td>{esc(value)}</td></tr>" for name, value in summary),
        "</table>",
        "<h2>Confusion matrix</h2>",
        '<div class="row"><div>',
        _img(confusion_figure(result), "confusion matrix heat map", dpi=150),
        "</div><div>",
        f"<p>Most frequent confusions (top {top_pairs}).</p>",
        "<table><tr><th>true</th><th>predicted</th><th>count</th></tr>",
    ]
    pairs = result.top_confusions(top_pairs)
    parts += [
        f'<tr><td class="label">{esc(t)}</td><td class="label">{esc(p)}</td><td>{c}</td></tr>'
        for t, p, c in pairs
    ]
    if not pairs:
        parts.append('<tr><td colspan="3">no confusions</td></tr>')
    parts += [
        "</table></div></div>",
        "<h2>Per label (worst F1 first)</h2>",
        "<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th>"
        "<th>support</th></tr>",
    ]
    for label, s in sorted(result.per_label.items(), key=lambda kv: (kv[1].f1, kv[0])):
        css = ' class="low"' if s.f1 < 0.8 else ""
        parts.append(
            f'<tr{css}><td class="label">{esc(label)}</td><td>{s.precision:.3f}</td>'
            f"<td>{s.recall:.3f}</td><td>{s.f1:.3f}</td><td>{s.support}</td></tr>"
        )
    parts += [
        "</table>",
        "<h2>Calibration: reliability diagram</h2>",
        '<div class="row"><div>',
        _img(reliability_figure(result), "reliability diagram"),
        "</div><div>",
        "<table><tr><th>confidence</th><th>messages</th><th>mean confidence</th>"
        "<th>accuracy</th></tr>",
        *(
            f"<tr><td>{b.lower:.2f}–{b.upper:.2f}</td><td>{b.count}</td>"
            f"<td>{_fmt(b.mean_confidence)}</td><td>{_fmt(b.accuracy)}</td></tr>"
            for b in result.reliability
        ),
        "</table></div></div>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
