"""Self-contained HTML pages of figures for the Kubeflow UI's `Output[HTML]` artifacts.

The UI shows an HTML artifact in a sandboxed frame: every figure is an embedded PNG (base64 data URI),
with no script and nothing fetched.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from stockpredictor.stages.optimize_study import SearchHistory

_STYLE = (
    "body { font-family: system-ui, sans-serif; margin: 12px; color: #1d2330; } "
    "h1 { font-size: 1.1rem; } figure { margin: 0 0 14px; } figcaption { font-weight: 600; } "
    "img { max-width: 100%; } p { font-size: 0.85rem; color: #667085; }"
)


def png_data_uri(figure: Figure) -> str:
    """`figure` as a PNG data URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figures_html(title: str, figures: Mapping[str, Figure], note: str = "") -> str:
    """One page with every figure under its name (none: a sentence saying so)."""
    body = [
        f'<figure data-name="{html.escape(name)}"><figcaption>{html.escape(name)}</figcaption>'
        f'<img alt="{html.escape(name)}" src="{png_data_uri(figure)}"></figure>'
        for name, figure in figures.items()
    ] or ["<p>No figure.</p>"]
    intro = f"<p>{html.escape(note)}</p>" if note else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{intro}{''.join(body)}"
        "</body></html>"
    )


def search_figure(history: SearchHistory) -> Figure:
    """The optimisation history: each trial's validation loss (pruned: its last reported one, a cross)
    and the best complete value so far."""
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots()
    for state, style in (("COMPLETE", "o"), ("PRUNED", "x")):
        points = [(n, v) for n, s, v in history.trials if s == state and v is not None]
        if points:
            axes.plot(*zip(*points, strict=True), style, linestyle="none", label=f"{state.lower()} trial")
    best, steps = float("inf"), []
    for number, state, value in history.trials:
        if state == "COMPLETE" and value is not None:
            best = min(best, value)
        if best < float("inf"):
            steps.append((number, best))
    if steps:
        axes.step(*zip(*steps, strict=True), where="post", color="black", label="best so far")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("trial")
    axes.set_ylabel("validation loss")
    axes.set_title("Optimisation history")
    axes.legend()
    return figure
