"""The replay report's prediction intervals: coverage and scores against the baselines, a calibration plot.

`replay_persistence_ranges` replays the interval loop alone (no model is trained): each session it
ingests, monitors (calibration and coverage, as the daily pipeline's monitor) and serves the ranges
around exact persistence forecasts with predict's own code. It measures the volatility forecast and
its calibration on any range in minutes, and is how a regime shift is injected into the real sample
path in the tests (`sources.shifted`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sqlalchemy import Engine

from stockpredictor.calendar import next_trading_day
from stockpredictor.config import Params
from stockpredictor.db.intervals import MaturedRange, matured_ranges
from stockpredictor.db.predictions import store_daily_predictions
from stockpredictor.db.prices import load_prices
from stockpredictor.errors import SourceError
from stockpredictor.models.intervals import interval_scores, log_bounds, normal_multiplier
from stockpredictor.sources import PriceSource
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.monitor import monitor_model
from stockpredictor.stages.ranges import (
    BASELINES,
    coverage_table,
    forecast_ranges,
    level_key,
    range_statistics,
)

#: Nominal levels of the calibration plot's curves (the volatility forecasts with normal multipliers).
CURVE_LEVELS = tuple(np.round(np.arange(0.5, 0.99, 0.025), 3))


def ranges_section(rows: list[MaturedRange], levels: tuple[float, ...]) -> list[str]:
    """Markdown lines: coverage overall and per ticker, width, Winkler and volatility loss vs baselines."""
    if not rows:
        return ["No evaluated forecast carries an interval."]
    stats = range_statistics(rows, levels)
    lines = [
        f"{len(rows)} evaluated forecasts. Widths and interval (Winkler) scores in log-return percent; "
        "baselines: the same center ± the normal multiplier times the EWMA (λ 0.94) or the rolling "
        "250-day volatility. Kupiec p: the test of the miss rate against nominal.",
        "",
        *coverage_table(stats, levels),
    ]
    lines += [
        "",
        "| volatility forecast | QLIKE | MAE of \\|r\\| (%) |",
        "|---|---:|---:|",
        *(
            f"| {name} | {stats[f'qlike{suffix}']:.4f} | {100 * stats[f'abs_return_mae{suffix}']:.4f} |"
            for name, suffix in (("served", ""), *((b, f"_{b}") for b in BASELINES))
        ),
    ]
    return lines


def calibration_plot(rows: list[MaturedRange], levels: tuple[float, ...], path: Path) -> Path:
    """Nominal vs empirical coverage: the served (calibrated) levels, and normal-multiplier curves."""
    figure = Figure(figsize=(5.5, 5.5))
    axes = figure.subplots()
    axes.plot([0.5, 1.0], [0.5, 1.0], color="black", linewidth=0.8, label="nominal")
    last = np.array([r.last_close for r in rows])
    actual = np.log(np.array([r.actual_close for r in rows]) / last)
    center = np.log(np.array([r.predicted_close for r in rows]) / last)
    curves = {"served volatility, uncalibrated": np.array([r.volatility for r in rows])} | {
        f"{name} baseline": np.array([r.baseline_volatility[name] for r in rows]) for name in BASELINES
    }
    for label, volatility in curves.items():
        empirical = [
            interval_scores(log_bounds(center, volatility, normal_multiplier(level)), actual, level).coverage
            for level in CURVE_LEVELS
        ]
        axes.plot(CURVE_LEVELS, empirical, linewidth=1.2, label=label)
    stats = range_statistics(rows, levels)
    axes.plot(
        levels,
        [stats[f"coverage_{level_key(level)}"] for level in levels],
        "o",
        color="tab:red",
        markersize=8,
        label="served intervals (calibrated)",
    )
    axes.set_xlabel("nominal coverage")
    axes.set_ylabel("empirical coverage")
    axes.set_title("Calibration of the prediction intervals")
    axes.legend(fontsize=8, loc="upper left")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def coverage_by_session(rows: list[MaturedRange], level: float) -> tuple[list[date], np.ndarray]:
    """The target sessions in order and the share of each one's forecasts inside their `level` interval."""
    key = level_key(level)
    sessions = sorted({r.target_date for r in rows})
    index = {day: i for i, day in enumerate(sessions)}
    inside, count = np.zeros(len(sessions)), np.zeros(len(sessions))
    for r in rows:
        lower, upper = r.intervals[key]
        inside[index[r.target_date]] += lower <= r.actual_close <= upper
        count[index[r.target_date]] += 1
    return sessions, inside / count


def recovery_lines(
    rows: list[MaturedRange], first_day: date, levels: tuple[float, ...], span: int = 20
) -> list[str]:
    """Markdown rows: coverage of the `span` sessions before a shift on `first_day`, of the first `span`
    sessions from it, and of the `span` after those (the recovered regime), per level."""
    lines = [
        f"| level | {span} sessions before | sessions 1-{span} from the shift "
        f"| sessions {span + 1}-{2 * span} |",
        "|---|---:|---:|---:|",
    ]
    for level in levels:
        sessions, share = coverage_by_session(rows, level)
        start = next((i for i, day in enumerate(sessions) if day >= first_day), len(sessions))
        parts = (
            share[max(start - span, 0) : start],
            share[start : start + span],
            share[start + span : start + 2 * span],
        )
        lines.append(
            f"| {level:.0%} | "
            + " | ".join(f"{part.mean():.3f} ({len(part)})" if len(part) else "–" for part in parts)
            + " |"
        )
    return lines


#: The MLflow run id the persistence forecasts of `replay_persistence_ranges` are stored under.
PERSISTENCE_RUN = "persistence-ranges"


def replay_persistence_ranges(
    engine: Engine, params: Params, days: list[date], source: PriceSource
) -> list[MaturedRange]:
    """Each day: ingest, monitor the persistence forecasts, serve the next ones; the matured ranges."""
    for day in days:
        ingested = ingest(engine, params, day, source)
        if ingested.errors:
            raise SourceError(f"{day}: ingest failed: {ingested.errors}")
        monitor_model(engine, params, PERSISTENCE_RUN, day, baseline=True)
        _serve_persistence(engine, params, day)
    with engine.connect() as conn:
        return matured_ranges(conn, PERSISTENCE_RUN, days[-1])


def _serve_persistence(engine: Engine, params: Params, day: date) -> None:
    with engine.connect() as conn:
        prices = load_prices(conn, params.data.tickers, day, day)
        closes = {t: float(f["close"].iloc[-1]) for t, f in prices.items() if not f.empty}
        ranges = forecast_ranges(conn, params, "1", day, closes, closes)
    rows = [
        {
            "kind": "daily",
            "model_run_id": PERSISTENCE_RUN,
            "model_version": "1",
            "ticker": ticker,
            "as_of_date": day,
            "target_date": next_trading_day(day),
            "last_close": closes[ticker],
            "predicted_close": closes[ticker],
            "volatility": found.volatility,
            "intervals": found.intervals,
            "baseline_volatility": found.baseline_volatility,
            "created_at": datetime.now(UTC),
        }
        for ticker, found in ranges.items()
    ]
    with engine.begin() as conn:
        store_daily_predictions(conn, rows)
