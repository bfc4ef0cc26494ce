"""Prediction intervals in the store: the calibration state per served model version, and matured ranges.

The state (`interval_calibration`) is one multiplier per (model name, model version, ticker, level)
and per `through_date`, the last target day folded into it: a history, so that a forecast rerun for a
past day gets the multiplier it was served with, never one fitted on later days. A version without a
row starts from the newest row of the same model name, ticker and level (the version it replaces: the
score is scaled by volatility, not by the point model), else from the caller's default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select

from stockpredictor.db.schema import (
    interval_calibration,
    latest_predictions,
    model_performance_log,
    raw_stock_data,
)


@dataclass(frozen=True)
class CalibrationState:
    """The multiplier of one (ticker, level) of a model version, and what it was fitted on."""

    ticker: str
    level: float
    multiplier: float
    n_updates: int = 0
    through_date: date | None = None
    recalibrated_on: date | None = None


def calibration_states(
    conn: Connection,
    model_name: str,
    model_version: str,
    tickers: Iterable[str],
    defaults: dict[float, float],
    known_through: date,
) -> dict[tuple[str, float], CalibrationState]:
    """The state of every (ticker, level of `defaults`) for the version, carried over or defaulted.

    Only states folded through `known_through` at the latest count: what was known on that day.
    """
    c = interval_calibration.c
    wanted = list(tickers)
    rows = conn.execute(
        select(interval_calibration)
        .where(c.model_name == model_name, c.ticker.in_(wanted), c.through_date <= known_through)
        .order_by(c.through_date.desc(), c.updated_at.desc(), c.model_version.desc())
    ).all()
    own: dict[tuple[str, float], Any] = {}
    inherited: dict[tuple[str, float], Any] = {}
    for r in rows:  # newest first
        inherited.setdefault((r.ticker, r.level), r)
        if r.model_version == model_version:
            own.setdefault((r.ticker, r.level), r)
    states = {}
    for ticker in wanted:
        for level, default in defaults.items():
            row = own.get((ticker, level))
            if row is not None:
                states[ticker, level] = CalibrationState(
                    ticker, level, row.multiplier, row.n_updates, row.through_date, row.recalibrated_on
                )
            else:
                previous = inherited.get((ticker, level))
                states[ticker, level] = CalibrationState(
                    ticker, level, previous.multiplier if previous is not None else default
                )
    return states


def save_calibration(
    conn: Connection, model_name: str, model_version: str, states: Iterable[CalibrationState]
) -> None:
    """Record the version's states; a state of the same (ticker, level, through_date) is replaced."""
    c = interval_calibration.c
    now = datetime.now(UTC)
    for state in states:
        if state.through_date is None:  # nothing folded in: the default or inherited state stands
            continue
        conn.execute(
            delete(interval_calibration).where(
                c.model_name == model_name,
                c.model_version == model_version,
                c.ticker == state.ticker,
                c.level == state.level,
                c.through_date == state.through_date,
            )
        )
        conn.execute(
            insert(interval_calibration).values(
                model_name=model_name,
                model_version=model_version,
                ticker=state.ticker,
                level=state.level,
                multiplier=state.multiplier,
                n_updates=state.n_updates,
                through_date=state.through_date,
                recalibrated_on=state.recalibrated_on,
                updated_at=now,
            )
        )


@dataclass(frozen=True)
class MaturedRange:
    """A served forecast with its distribution, next to the close that happened."""

    model_version: str
    ticker: str
    as_of_date: date
    target_date: date
    last_close: float
    predicted_close: float
    actual_close: float
    volatility: float
    intervals: dict[str, list[float]]
    baseline_volatility: dict[str, float]


def matured_ranges(
    conn: Connection, mlflow_run_id: str | None, as_of: date, window_days: int | None = None
) -> list[MaturedRange]:
    """The evaluated daily forecasts that carry intervals of a model (None: of every model), on its last
    `window_days` target days <= as_of (None: all), oldest first."""
    p, log = latest_predictions, model_performance_log
    joined = and_(
        log.c.model_run_id == p.c.model_run_id,
        log.c.ticker == p.c.ticker,
        log.c.target_date == p.c.target_date,
    )
    where = and_(
        p.c.kind == "daily",
        p.c.model_run_id == mlflow_run_id if mlflow_run_id is not None else p.c.model_run_id.is_not(None),
        p.c.target_date <= as_of,
        p.c.volatility.is_not(None),
    )
    if window_days is not None:
        days = (
            select(p.c.target_date)
            .join(log, joined)
            .where(where)
            .distinct()
            .order_by(p.c.target_date.desc())
            .limit(window_days)
            .subquery()
        )
        where = and_(where, p.c.target_date.in_(select(days.c.target_date)))
    rows = conn.execute(
        select(
            p.c.model_version,
            p.c.ticker,
            p.c.as_of_date,
            p.c.target_date,
            p.c.last_close,
            p.c.predicted_close,
            log.c.actual_close,
            p.c.volatility,
            p.c.intervals,
            p.c.baseline_volatility,
        )
        .join(log, joined)
        .where(where)
        .order_by(p.c.target_date, p.c.ticker)
    ).all()
    return [
        MaturedRange(
            str(r.model_version),
            r.ticker,
            r.as_of_date,
            r.target_date,
            r.last_close,
            r.predicted_close,
            r.actual_close,
            r.volatility,
            dict(r.intervals),
            dict(r.baseline_volatility),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class ServedRange:
    """A served daily forecast with its intervals and, once stored, the target day's close."""

    ticker: str
    target_date: date
    predicted_close: float
    intervals: dict[str, list[float]]
    actual_close: float | None


def served_ranges(conn: Connection, as_of: date, start: date) -> list[ServedRange]:
    """The newest daily forecast per ticker and as-of day in start..as_of that carries intervals."""
    p, prices = latest_predictions, raw_stock_data
    rows = conn.execute(
        select(p.c.ticker, p.c.target_date, p.c.predicted_close, p.c.intervals, prices.c.close)
        .outerjoin(prices, and_(prices.c.ticker == p.c.ticker, prices.c.date == p.c.target_date))
        .where(
            p.c.kind == "daily",
            p.c.as_of_date >= start,
            p.c.as_of_date <= as_of,
            p.c.volatility.is_not(None),
        )
        .order_by(p.c.ticker, p.c.as_of_date, p.c.created_at)
    ).all()
    newest = {(r.ticker, r.target_date): r for r in rows}  # later rows of a day replace earlier ones
    return [
        ServedRange(r.ticker, r.target_date, r.predicted_close, dict(r.intervals), r.close)
        for r in newest.values()
    ]
