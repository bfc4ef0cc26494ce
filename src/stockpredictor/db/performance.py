"""Evaluated daily predictions (`model_performance_log`): one row per model, ticker and target day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, select

from stockpredictor.calendar import next_trading_days
from stockpredictor.db.bulk import insert_missing
from stockpredictor.db.schema import latest_predictions, model_performance_log, raw_stock_data

PERFORMANCE_KEY = ("model_run_id", "ticker", "target_date")


@dataclass(frozen=True)
class Evaluation:
    """One matured prediction next to the close that actually happened."""

    model_run_id: str
    ticker: str
    as_of_date: date
    target_date: date
    last_close: float
    predicted_close: float
    actual_close: float


def matured_predictions(conn: Connection, as_of: date) -> list[Evaluation]:
    """Daily predictions targeting a day <= `as_of` that have a stored actual close and are not logged yet.

    A prediction is scored only against the exchange session right after its as-of session: one
    whose target is any other day is never evaluated, and one whose ticker has no row on that
    session stays unevaluated (it is never scored against a later day).
    """
    p, r, log = latest_predictions, raw_stock_data, model_performance_log
    query = (
        select(
            p.c.model_run_id,
            p.c.ticker,
            p.c.as_of_date,
            p.c.target_date,
            p.c.last_close,
            p.c.predicted_close,
            r.c.close,
        )
        .join(r, and_(r.c.ticker == p.c.ticker, r.c.date == p.c.target_date))
        .outerjoin(log, and_(*(log.c[k] == p.c[k] for k in PERFORMANCE_KEY)))
        .where(p.c.kind == "daily", p.c.target_date <= as_of, log.c.id.is_(None))
        .order_by(p.c.target_date, p.c.ticker)
    )
    found = [Evaluation(*row) for row in conn.execute(query).all()]
    sessions = next_trading_days([e.as_of_date for e in found])
    return [e for e, session in zip(found, sessions, strict=True) if e.target_date == session]


def log_evaluations(conn: Connection, evaluations: list[Evaluation]) -> int:
    """Log the evaluations (errors are predicted - actual), keeping rows already logged; returns how many."""
    now = datetime.now(UTC)
    rows = [
        {
            "model_run_id": e.model_run_id,
            "ticker": e.ticker,
            "as_of_date": e.as_of_date,
            "target_date": e.target_date,
            "last_close": e.last_close,
            "predicted_close": e.predicted_close,
            "actual_close": e.actual_close,
            "error": e.predicted_close - e.actual_close,
            "pct_error": 100.0 * (e.predicted_close - e.actual_close) / e.actual_close,
            "direction_correct": bool(
                np.sign(e.predicted_close - e.last_close) == np.sign(e.actual_close - e.last_close)
            ),
            "persistence_error": e.last_close - e.actual_close,
            "evaluated_at": now,
        }
        for e in evaluations
    ]
    return insert_missing(conn, model_performance_log, rows, key=PERFORMANCE_KEY)


def recent_evaluations(
    conn: Connection, mlflow_run_id: str, as_of: date, window_days: int
) -> list[Evaluation]:
    """The logged evaluations of the model of `mlflow_run_id` on its last `window_days` days <= `as_of`."""
    log = model_performance_log
    of_model = and_(log.c.model_run_id == mlflow_run_id, log.c.target_date <= as_of)
    days = (
        select(log.c.target_date)
        .where(of_model)
        .distinct()
        .order_by(log.c.target_date.desc())
        .limit(window_days)
        .subquery()
    )
    query = (
        select(
            log.c.model_run_id,
            log.c.ticker,
            log.c.as_of_date,
            log.c.target_date,
            log.c.last_close,
            log.c.predicted_close,
            log.c.actual_close,
        )
        .where(of_model, log.c.target_date.in_(select(days.c.target_date)))
        .order_by(log.c.target_date, log.c.ticker)
    )
    return [Evaluation(*row) for row in conn.execute(query).all()]


OUTCOME_COLUMNS = (
    "as_of_date",
    "target_date",
    "ticker",
    "model_version",
    "model_run_id",
    "last_close",
    "predicted_close",
    "actual_close",
    "error",
    "pct_error",
    "direction_correct",
    "persistence_error",
)


def prediction_outcomes(conn: Connection) -> pd.DataFrame:
    """Every daily prediction with its evaluation (NaN where not evaluated yet), columns OUTCOME_COLUMNS."""
    p, log = latest_predictions, model_performance_log
    query = (
        select(
            p.c.as_of_date,
            p.c.target_date,
            p.c.ticker,
            p.c.model_version,
            p.c.model_run_id,
            p.c.last_close,
            p.c.predicted_close,
            log.c.actual_close,
            log.c.error,
            log.c.pct_error,
            log.c.direction_correct,
            log.c.persistence_error,
        )
        .outerjoin(log, and_(*(log.c[k] == p.c[k] for k in PERFORMANCE_KEY)))
        .where(p.c.kind == "daily")
        .order_by(p.c.as_of_date, p.c.ticker, p.c.model_run_id)
    )
    return pd.DataFrame(conn.execute(query).all(), columns=list(OUTCOME_COLUMNS))
