"""The figures of a training's test windows: what a user checks first, at a bounded cost.

Rendering one figure costs about 0.1 CPU s, so a universe of hundreds of tickers gets no figure per
ticker: `training_figures` draws one summary over every ticker (its test MAE as a ratio to
persistence's, sorted) and the predicted-vs-actual closes of at most `max_tickers` tickers, those
with the largest and the smallest ratio. `train` renders them once (`png`) and logs them to MLflow
in one batch; the figures serve any other page too (e.g. an HTML artifact).
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from stockpredictor.stages.evaluation import PricePredictions

SUMMARY = "summary"


def shown_tickers(mae_ratio: dict[str, float], max_tickers: int) -> list[str]:
    """At most `max_tickers` tickers: half with the largest MAE ratio (worst first), then the rest with
    the smallest (best first); every ticker when there are no more than `max_tickers`."""
    ranked = sorted(mae_ratio, key=lambda t: (-mae_ratio[t], t))
    if len(ranked) <= max_tickers:
        return ranked
    worst = (max_tickers + 1) // 2
    return ranked[:worst] + ranked[::-1][: max_tickers - worst]


def training_figures(
    test: PricePredictions, by_ticker: dict[str, dict[str, float]], max_tickers: int
) -> dict[str, Figure]:
    """Figures by name: `SUMMARY`, then each of `shown_tickers` under its ticker.

    `by_ticker`: the per-ticker metrics of `test` (`PricePredictions.per_ticker`), with `mae_ratio`.
    """
    ratios = {t: m["mae_ratio"] for t, m in by_ticker.items()}
    return {SUMMARY: _summary(ratios), **{t: _ticker(test, t) for t in shown_tickers(ratios, max_tickers)}}


def png(figure: Figure) -> bytes:
    """`figure` rendered as PNG bytes."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _summary(ratios: dict[str, float]) -> Figure:
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots()
    values = np.sort(np.array(list(ratios.values()), dtype=np.float64))
    marker = "." if len(values) <= 50 else None
    axes.plot(np.arange(1, len(values) + 1), values, marker=marker, color="tab:blue")
    axes.axhline(1.0, color="black", linewidth=1, linestyle="--", label="persistence")
    axes.set_xlabel("tickers, sorted")
    axes.set_ylabel("test MAE / persistence MAE")
    axes.set_title(f"Test MAE ratio to persistence of {len(values)} tickers (< 1: better than persistence)")
    axes.legend()
    return figure


def _ticker(test: PricePredictions, ticker: str) -> Figure:
    j = test.tickers.index(ticker)
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots()
    days = np.array(test.target_dates, dtype="datetime64[D]")
    axes.plot(days, test.actual[:, j], label="actual close", color="black", linewidth=1)
    axes.plot(days, test.predicted[:, j], label="predicted close", color="tab:blue", linewidth=1)
    axes.set_title(f"{ticker}: next-day close on the test windows")
    axes.legend()
    figure.autofmt_xdate()
    return figure
