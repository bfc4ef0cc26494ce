"""process on the sample data, on real SQLite and PostgreSQL: all or nothing, missing inputs named."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, select

from stockpredictor.db.schema import processed_feature_data, scaled_feature_sets
from stockpredictor.errors import DatasetNotFoundError, MissingDataError
from stockpredictor.stages import process as process_module
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale
from tests.support.overrides import TWO_TICKERS, repo_params

AS_OF = date(2006, 6, 30)
PARAMS = repo_params(*TWO_TICKERS)


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_crash_inside_process_leaves_no_dataset(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest(engine, PARAMS, AS_OF)
    real_save = process_module.save_processed

    def save_then_crash(*args: Any, **kwargs: Any) -> None:
        real_save(*args, **kwargs)
        raise RuntimeError("injected crash after the insert, before the commit")

    monkeypatch.setattr(process_module, "save_processed", save_then_crash)
    with pytest.raises(RuntimeError, match="injected crash"):
        process(engine, PARAMS, AS_OF)
    assert count(engine, processed_feature_data) == 0


def test_missing_inputs_are_named_and_nothing_is_written(engine: Engine) -> None:
    with pytest.raises(MissingDataError, match="AAPL, IBM"):
        process(engine, PARAMS, AS_OF)
    with pytest.raises(DatasetNotFoundError, match="'no-such-run'"):
        scale(engine, PARAMS, "no-such-run")
    ingest(engine, PARAMS, AS_OF)
    run_id = process(engine, PARAMS, AS_OF).dataset_run_id
    too_long = repo_params(*TWO_TICKERS, "sequences.sequence_length=1000")
    with pytest.raises(MissingDataError, match="too little history"):
        scale(engine, too_long, run_id)
    assert count(engine, scaled_feature_sets) == 0
