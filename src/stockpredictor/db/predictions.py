"""Model predictions (`latest_predictions`): daily forecasts and the test-window forecasts of training."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from stockpredictor.db.bulk import replace_rows
from stockpredictor.db.schema import latest_predictions

#: The table's unique key: one prediction per kind, model run, ticker and last observed day.
PREDICTION_KEY = ("kind", "model_run_id", "ticker", "as_of_date")


def upsert_predictions(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert rows (keys: the columns of `latest_predictions` but `id`), replacing rows of the same key."""
    replace_rows(conn, latest_predictions, rows, key=PREDICTION_KEY)
