"""The persistence baseline through the API's queries: no call, a loss ratio of exactly 1 (both stores)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, insert

from stockpredictor.api import queries
from stockpredictor.db.performance import log_evaluations, matured_predictions
from stockpredictor.db.schema import latest_predictions, raw_stock_data

DAYS = [date(2012, 6, 4), date(2012, 6, 5), date(2012, 6, 6), date(2012, 6, 7)]
CLOSE = [100.0, 102.0, 101.0, 103.0]


def test_forecasts_of_the_last_close_call_no_move_and_tie_persistence(engine: Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(raw_stock_data),
            [
                {"ticker": "AAA", "date": d, "open": c, "high": c, "low": c, "close": c, "volume": 1.0}
                | {"source": "sample", "ingested_at": now}
                for d, c in zip(DAYS, CLOSE, strict=True)
            ],
        )
        conn.execute(
            insert(latest_predictions),
            [
                {
                    "kind": "daily",
                    "model_run_id": "run-baseline",
                    "model_version": "2",
                    "ticker": "AAA",
                    "as_of_date": DAYS[i],
                    "target_date": DAYS[i + 1],
                    "last_close": CLOSE[i],
                    "predicted_close": CLOSE[i],  # persistence: the last close itself
                    "created_at": now,
                }
                for i in range(3)
            ],
        )
        log_evaluations(conn, matured_predictions(conn, DAYS[-1]))
    with engine.connect() as conn:
        (latest,) = queries.latest(conn).predictions
        history = queries.history(conn, "AAA", None, None)
        (model,) = queries.performance(conn, 20)
    assert (latest.direction, latest.change_pct) == ("no call", 0.0)
    assert [h.direction_correct for h in history] == [None, None, None]
    overall = model.overall
    assert overall.directional_accuracy is None  # "no call", never a number
    assert (overall.mae_ratio, overall.log_mae_ratio, overall.loss_p_worse) == (1.0, 1.0, 1.0)
