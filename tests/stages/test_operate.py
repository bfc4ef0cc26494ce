"""operate on a store of the caller's, on real SQLite and PostgreSQL: it never serves a day with a model
built on data after that day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from stockpredictor.calendar import trading_days
from stockpredictor.config import Settings
from stockpredictor.db.datasets import newest_dataset_as_of
from stockpredictor.db.schema import latest_predictions, monitor_decisions, raw_stock_data
from stockpredictor.errors import UsageError
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.process import process
from stockpredictor.stages.replay import operate
from tests.support.overrides import TWO_TICKERS, repo_params

PARAMS = repo_params(*TWO_TICKERS)
BUILT_ON = date(2006, 6, 30)
TABLES = (raw_stock_data, latest_predictions, monitor_decisions)


def test_a_store_with_a_dataset_built_after_the_first_day_is_refused_untouched(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    ingest(engine, PARAMS, BUILT_ON)
    process(engine, PARAMS, BUILT_ON)
    with engine.connect() as conn:
        assert newest_dataset_as_of(conn) == BUILT_ON
        before = [conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES]
    settings = Settings(tmp_path, db_url, f"sqlite:///{tmp_path / 'mlflow.db'}")
    days = trading_days(date(2006, 6, 28), date(2006, 7, 6))
    with pytest.raises(UsageError, match="built on data up to 2006-06-30, after 2006-06-28"):
        operate(engine, PARAMS, settings, days)
    with engine.connect() as conn:
        assert [conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES] == before


def test_an_empty_store_has_no_dataset(engine: Engine) -> None:
    with engine.connect() as conn:
        assert newest_dataset_as_of(conn) is None
