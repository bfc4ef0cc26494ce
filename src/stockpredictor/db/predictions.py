"""Model predictions (`latest_predictions`): daily forecasts and the test-window forecasts of training.

A daily prediction, once stored, is what the API serves and what the monitor evaluates. A rerun of
the same day that computes other values never replaces it silently: it is refused, or, when asked
to replace, the earlier rows move to `prediction_history` first (and only while none of them has
been evaluated, so the performance log always scores the prediction that was served).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, insert, select, tuple_

from stockpredictor.db.bulk import copy_replace, replace_rows
from stockpredictor.db.schema import latest_predictions, model_performance_log, prediction_history
from stockpredictor.errors import OverwriteRefusedError

#: The table's unique key: one prediction per kind, model run, ticker and last observed day.
PREDICTION_KEY = ("kind", "model_run_id", "ticker", "as_of_date")


def upsert_predictions(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert rows (keys: the columns of `latest_predictions` but `id`), replacing rows of the same key."""
    replace_rows(conn, latest_predictions, rows, key=PREDICTION_KEY)


def upsert_test_predictions(conn: Connection, model_run_id: str, frame: pd.DataFrame) -> None:
    """Store a training's test-window forecasts, replacing rows of the same key, in one bulk write.

    `frame`: columns ticker, as_of_date, target_date (datetime64), last_close, predicted_close; the
    rows have no model version (the model is registered after its run).
    """
    constants = {
        "kind": "test",
        "model_run_id": model_run_id,
        "model_version": None,
        "created_at": datetime.now(UTC),
    }
    copy_replace(conn, latest_predictions, frame, PREDICTION_KEY, constants)


def test_forecasts(conn: Connection, model_run_id: str) -> dict[tuple[str, date], float]:
    """The test-window forecasts stored by the training of `model_run_id`: the predicted close by
    (ticker, target day)."""
    p = latest_predictions
    rows = conn.execute(
        select(p.c.ticker, p.c.target_date, p.c.predicted_close).where(
            p.c.kind == "test", p.c.model_run_id == model_run_id
        )
    ).all()
    return {(ticker, target): predicted for ticker, target, predicted in rows}


def store_daily_predictions(conn: Connection, rows: list[dict[str, Any]], *, replace: bool = False) -> bool:
    """Store one model's daily predictions of one day; returns False when identical ones were stored.

    Other values for the same model, tickers and day are refused unless `replace`; replaced rows are
    kept in `prediction_history`, and a prediction already evaluated is never replaced.
    """
    if not rows:
        return True
    model_run_id, as_of_date = rows[0]["model_run_id"], rows[0]["as_of_date"]
    stored = _stored_daily(conn, model_run_id, as_of_date, [r["ticker"] for r in rows])
    changed = [r for r in rows if r["ticker"] in stored and not _same(stored[r["ticker"]], r)]
    if stored and not changed and len(stored) == len(rows):
        return False
    if changed and not replace:
        first = changed[0]
        raise OverwriteRefusedError(
            f"predictions of MLflow run {model_run_id} as of {as_of_date} are already stored and differ "
            f"({first['ticker']}: {stored[first['ticker']]['predicted_close']:.4f} stored, "
            f"{first['predicted_close']:.4f} now); rerun with --replace to keep the stored ones as history"
        )
    if changed:
        _refuse_evaluated(conn, model_run_id, [(r["ticker"], r["target_date"]) for r in changed])
        now = datetime.now(UTC)
        conn.execute(
            insert(prediction_history),
            [{**stored[r["ticker"]], "replaced_at": now} for r in changed],
        )
    upsert_predictions(conn, rows)
    return True


def _stored_daily(
    conn: Connection, model_run_id: str, as_of_date: date, tickers: list[str]
) -> dict[str, dict[str, Any]]:
    columns = [c for c in latest_predictions.c if c.name != "id"]
    result = conn.execute(
        select(*columns).where(
            latest_predictions.c.kind == "daily",
            latest_predictions.c.model_run_id == model_run_id,
            latest_predictions.c.as_of_date == as_of_date,
            latest_predictions.c.ticker.in_(tickers),
        )
    )
    return {row.ticker: dict(row._mapping) for row in result}


def _same(stored: dict[str, Any], row: dict[str, Any]) -> bool:
    return bool(
        np.isclose(stored["predicted_close"], row["predicted_close"], rtol=1e-9, atol=0.0)
        and np.isclose(stored["last_close"], row["last_close"], rtol=1e-9, atol=0.0)
        and stored["target_date"] == row["target_date"]
    )


def _refuse_evaluated(conn: Connection, model_run_id: str, ticker_targets: list[tuple[str, date]]) -> None:
    log = model_performance_log.c
    evaluated = conn.execute(
        select(log.ticker, log.target_date).where(
            and_(log.model_run_id == model_run_id, tuple_(log.ticker, log.target_date).in_(ticker_targets))
        )
    ).first()
    if evaluated is not None:
        raise OverwriteRefusedError(
            f"the prediction of MLflow run {model_run_id} for {evaluated.ticker} on {evaluated.target_date} "
            "was already evaluated against that day's close; it cannot be replaced"
        )
