"""Pictures of bench results: ``agentmem bench NAME ... --plot FILE.png`` / ``--report FILE.html``.

A bench's ``run`` returns its JSON result and, under ``"plot_data"``, the raw series a picture
needs (per-query latencies, one conversation's surprise trace); the CLI takes that key out
before printing, so the printed JSON does not depend on these options. What is drawn:

* ``retrieval``: recall@k of the fused list and of each signal; search latency distribution;
* ``locomo``: turn and session recall@k; turn recall@k per question category; latency;
* ``latency``: p50 / p95 against the number of stored turns; latency distribution per size;
* ``segmentation``: the first conversation's surprise curve with the true session starts and
  the boundaries found (surprise + refinement); boundary precision / recall / F1 per method.

matplotlib (Agg, no display) is the ``plot`` extra, imported on first use. The HTML report is
one self-contained file: the picture inlined as a data URL and the result as a table.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentmem.errors import BackendUnavailableError, ValidationError

__all__ = ["PLOTTABLE", "figure", "pyplot", "write_plot", "write_report"]

PLOTTABLE = ("retrieval", "locomo", "latency", "segmentation")


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (:class:`BackendUnavailableError` without the extra)."""
    try:
        import matplotlib
    except ImportError as exc:
        raise BackendUnavailableError("matplotlib (bench plots)", "plot") from exc
    matplotlib.use("Agg")  # no display; a no-op when pyplot already runs on Agg
    import matplotlib.pyplot as plt

    return plt


def _curve(ax: Any, series: Mapping[str, Mapping[str, float]], title: str) -> None:
    for name, by_k in series.items():
        ks = sorted(by_k, key=int)
        ax.plot([int(k) for k in ks], [by_k[k] for k in ks], marker="o", label=name,
                linewidth=2.2 if name in ("fused", "turn") else 1.2)
    ax.set(title=title, xlabel="k", ylabel="recall@k (%)", ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _latency(ax: Any, series: Mapping[str, list[float]], title: str = "search latency") -> None:
    import numpy as np

    values = [x for ms in series.values() for x in ms if x > 0]
    if not values:
        return
    # log-spaced bins: one cold first search should not squash the rest into one bar
    lo, hi = min(values), max(values)
    bins = np.geomspace(lo, hi * 1.0001, 31) if hi > lo else 30
    for name, ms in series.items():
        if ms:
            ax.hist(ms, bins=bins, alpha=0.55, label=f"{name} (n={len(ms)})")
    if hi > lo:
        ax.set_xscale("log")
    ax.set(title=title, xlabel="ms (log scale)" if hi > lo else "ms", ylabel="searches")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _by_category(ax: Any, by_cat: Mapping[str, Mapping[str, float]]) -> None:
    cats = sorted(by_cat, key=int)
    ks = sorted({k for d in by_cat.values() for k in d}, key=int)
    width = 0.8 / max(1, len(ks))
    for j, k in enumerate(ks):
        xs = [i + (j - (len(ks) - 1) / 2) * width for i in range(len(cats))]
        ax.bar(xs, [by_cat[c].get(k, 0.0) for c in cats], width, label=f"@{k}")
    ax.set_xticks(range(len(cats)), [f"cat {c}" for c in cats])
    ax.set(title="turn recall by question category", ylabel="recall (%)", ylim=(0, 100))
    ax.legend(fontsize=8)


def _segmentation(fig: Any, result: Mapping[str, Any], trace: Mapping[str, Any]) -> None:
    top = fig.add_subplot(2, 1, 1)
    scores = trace["scores"]
    top.plot(range(len(scores)), scores, color="#d97706", linewidth=0.9, label="surprise (mean −log p per turn)")
    for i, b in enumerate(trace["true"]):
        top.axvline(b, color="#16a34a", linewidth=1.6, alpha=0.8, label="true session start" if i == 0 else None)
    lo, hi = min(scores, default=0.0), max(scores, default=1.0)
    found = trace["found"]
    top.plot(found, [hi + 0.04 * (hi - lo)] * len(found), "v", color="#dc2626", markersize=5,
             label=f"found ({trace['method']})")
    top.set(title=f"conversation {trace['conversation']}: surprise, true and found boundaries",
            xlabel="turn", ylabel="surprise (nats)")
    top.legend(fontsize=8, loc="lower right")
    bottom = fig.add_subplot(2, 1, 2)
    methods = result["methods"]
    names = list(methods)
    for j, key in enumerate(("precision", "recall", "f1")):
        bottom.bar([i + (j - 1) * 0.27 for i in range(len(names))], [methods[n][key] for n in names], 0.27, label=key)
    bottom.set_xticks(range(len(names)), names, fontsize=8)
    bottom.set(title=f"boundaries against true session starts (±{result['params']['tolerance']} turn)",
               ylim=(0, 1))
    bottom.legend(fontsize=8)


def figure(bench: str, result: Mapping[str, Any], plot_data: Mapping[str, Any]) -> Any:
    """A matplotlib figure of one bench result (see the module docstring for what is drawn)."""
    if bench not in PLOTTABLE:
        raise ValidationError(f"no plot for bench {bench!r}; plots exist for {', '.join(PLOTTABLE)}")
    plt = pyplot()
    if bench == "segmentation":
        fig = plt.figure(figsize=(11, 7))
        _segmentation(fig, result, plot_data["trace"])
    elif bench == "retrieval":
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
        _curve(a, {"fused": result["recall"], **result["signals"]}, f"recall@k ({result['n_queries']} queries)")
        _latency(b, {"search": plot_data["search_ms"]})
    elif bench == "locomo":
        fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4))
        _curve(a, {"turn": result["turn_recall"], "session": result["session_recall"]},
               f"recall@k ({result['n_questions']} questions)")
        _by_category(b, result["turn_recall_by_category"])
        _latency(c, {"search": plot_data["search_ms"]})
    else:
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
        rows = result["results"]
        n = [r["turns"] for r in rows]
        a.plot(n, [r["search_ms_p50"] for r in rows], marker="o", label="p50")
        a.plot(n, [r["search_ms_p95"] for r in rows], marker="o", label="p95")
        a.set(xscale="log", title="search latency against stored turns", xlabel="turns", ylabel="ms")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
        _latency(b, {f"{r['turns']} turns": ms for r, ms in zip(rows, plot_data["search_ms"], strict=True)})
    fig.tight_layout()
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    pyplot().close(fig)
    return buf.getvalue()


def write_plot(path: str | Path, bench: str, result: Mapping[str, Any], plot_data: Mapping[str, Any]) -> Path:
    """Save :func:`figure` as a PNG at ``path``; returns the path."""
    out = Path(path)
    out.write_bytes(_png(figure(bench, result, plot_data)))
    return out


def write_report(path: str | Path, bench: str, result: Mapping[str, Any], plot_data: Mapping[str, Any]) -> Path:
    """A self-contained HTML page: the picture (inlined) and the result's JSON."""
    png = base64.b64encode(_png(figure(bench, result, plot_data))).decode("ascii")
    title = html.escape(f"agentmem bench {bench}")
    body = html.escape(json.dumps(result, indent=2, ensure_ascii=False))
    out = Path(path)
    out.write_text(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f'<body><h1>{title}</h1><img alt="{title}" src="data:image/png;base64,{png}">'
        f"<pre>{body}</pre></body></html>\n",
        encoding="utf-8",
    )
    return out
