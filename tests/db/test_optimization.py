"""Search results on SQLite and PostgreSQL: the previous search of another dataset is the newest stored."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from stockpredictor.db.datasets import save_processed
from stockpredictor.db.optimization import (
    OptimizationRecord,
    load_optimization,
    previous_optimization,
    save_optimization,
)
from tests.db.test_datasets import sample_panel


def test_the_previous_search_is_the_newest_result_of_another_dataset(engine: Engine) -> None:
    records = [
        OptimizationRecord(run, f"dataset-{run}", {"architecture": "ridge"}, 1.0, 1, 0) for run in "abc"
    ]
    with engine.begin() as conn:
        assert previous_optimization(conn, "a") is None
        for record in records:
            save_processed(
                conn,
                record.dataset_run_id,
                sample_panel(),
                as_of=date(2021, 6, 1),
                source="sample",
                target="log_return",
                params={},
            )
            save_optimization(conn, record)
    with engine.begin() as conn:
        save_optimization(conn, records[0])  # stored again: now the newest
    with engine.connect() as conn:
        assert previous_optimization(conn, "c") == records[0] == load_optimization(conn, "a")
        assert previous_optimization(conn, "a") == records[2]
