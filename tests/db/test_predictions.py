"""Daily predictions are never replaced silently: same values change nothing, others need `replace`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select

from stockpredictor.db.predictions import store_daily_predictions, upsert_test_predictions
from stockpredictor.db.predictions import test_forecasts as stored_test_forecasts
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


def _test_frame(predicted: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": np.array(["IBM", "AAPL", "IBM"], dtype=object),
            "as_of_date": np.array(["2013-02-27", "2013-02-27", "2013-02-28"], dtype="datetime64[D]"),
            "target_date": np.array(["2013-02-28", "2013-02-28", "2013-03-01"], dtype="datetime64[D]"),
            "last_close": [200.0, 440.0, 201.0],
            "predicted_close": predicted,
        }
    )


def test_test_forecasts_are_written_in_bulk_and_replaced_by_key(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_test_predictions(conn, "run-t", _test_frame([201.5, 441.0, 202.5]))
        upsert_test_predictions(conn, "run-t", _test_frame([201.0, 442.0, 203.0]))  # same keys: replaced
        upsert_test_predictions(conn, "run-u", _test_frame([1.0, 2.0, 3.0]).iloc[:1])
    with engine.connect() as conn:
        assert stored_test_forecasts(conn, "run-t") == {
            ("IBM", date(2013, 2, 28)): 201.0,
            ("AAPL", date(2013, 2, 28)): 442.0,
            ("IBM", date(2013, 3, 1)): 203.0,
        }
        assert stored_test_forecasts(conn, "run-u") == {("IBM", date(2013, 2, 28)): 1.0}
        stored = conn.execute(
            select(
                latest_predictions.c.kind, latest_predictions.c.model_version, latest_predictions.c.last_close
            )
            .where(latest_predictions.c.model_run_id == "run-t")
            .order_by(latest_predictions.c.last_close)
        ).all()
    assert [tuple(r) for r in stored] == [("test", None, 200.0), ("test", None, 201.0), ("test", None, 440.0)]


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
