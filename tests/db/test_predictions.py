"""Daily predictions are never replaced silently: same values change nothing, others need `replace`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, insert, select

from stockpredictor.db.predictions import store_daily_predictions
from stockpredictor.db.schema import latest_predictions, model_performance_log, prediction_history
from stockpredictor.errors import OverwriteRefusedError

AS_OF, TARGET = date(2013, 3, 1), date(2013, 3, 4)


def _rows(**closes: float) -> list[dict[str, object]]:
    return [
        {
            "kind": "daily",
            "model_run_id": "run-a",
            "model_version": "1",
            "ticker": ticker,
            "as_of_date": AS_OF,
            "target_date": TARGET,
            "last_close": 100.0,
            "predicted_close": close,
            "created_at": datetime.now(UTC),
        }
        for ticker, close in closes.items()
    ]


def _served(engine: Engine) -> dict[str, float]:
    with engine.connect() as conn:
        rows = conn.execute(select(latest_predictions.c.ticker, latest_predictions.c.predicted_close))
        return {row.ticker: row.predicted_close for row in rows}


def _history(engine: Engine) -> list[tuple[str, float]]:
    with engine.connect() as conn:
        rows = conn.execute(select(prediction_history.c.ticker, prediction_history.c.predicted_close))
        return sorted((row.ticker, row.predicted_close) for row in rows)


def test_same_forecasts_again_change_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        assert store_daily_predictions(conn, _rows(IBM=101.0, AAPL=99.0)) is True
    with engine.begin() as conn:
        assert store_daily_predictions(conn, _rows(IBM=101.0, AAPL=99.0)) is False
    assert _served(engine) == {"IBM": 101.0, "AAPL": 99.0}
    assert _history(engine) == []


def test_other_forecasts_are_refused_without_replace_and_kept_as_history_with_it(engine: Engine) -> None:
    with engine.begin() as conn:
        store_daily_predictions(conn, _rows(IBM=101.0, AAPL=99.0))
    refused = r"IBM: 101\.0000 stored, 102\.0000 now.*--replace"
    with pytest.raises(OverwriteRefusedError, match=refused), engine.begin() as conn:
        store_daily_predictions(conn, _rows(IBM=102.0, AAPL=99.0))
    assert _served(engine) == {"IBM": 101.0, "AAPL": 99.0}

    with engine.begin() as conn:
        assert store_daily_predictions(conn, _rows(IBM=102.0, AAPL=99.0), replace=True) is True
    assert _served(engine) == {"IBM": 102.0, "AAPL": 99.0}
    assert _history(engine) == [("IBM", 101.0)]


def test_an_evaluated_forecast_is_never_replaced(engine: Engine) -> None:
    with engine.begin() as conn:
        store_daily_predictions(conn, _rows(IBM=101.0))
        conn.execute(
            insert(model_performance_log).values(
                model_run_id="run-a",
                ticker="IBM",
                as_of_date=AS_OF,
                target_date=TARGET,
                last_close=100.0,
                predicted_close=101.0,
                actual_close=100.5,
                error=0.5,
                pct_error=0.5,
                direction_correct=True,
                persistence_error=-0.5,
                evaluated_at=datetime.now(UTC),
            )
        )
    refused = "IBM on 2013-03-04 was already evaluated"
    with pytest.raises(OverwriteRefusedError, match=refused), engine.begin() as conn:
        store_daily_predictions(conn, _rows(IBM=103.0), replace=True)
    assert _served(engine) == {"IBM": 101.0}
    assert _history(engine) == []
