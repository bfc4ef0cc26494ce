"""Migrations on real SQLite and real PostgreSQL: every table, exactly the declared schema, idempotent."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from stockpredictor.db.engine import VERSION_TABLE, current_revision, head_revision, make_engine, migrate
from stockpredictor.db.schema import metadata, raw_stock_data
from tests.support.cli import invoke, key_output
from tests.support.overrides import tickers

TABLES = {
    "raw_stock_data",
    "processed_feature_data",
    "scaled_feature_sets",
    "scalers",
    "dataset_arrays",
    "dataset_array_chunks",
    "optimization_results",
    "latest_predictions",
    "model_performance_log",
    "model_promotions",
    "monitor_decisions",
}


def test_migrations_create_every_table_and_match_the_schema(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata
        )
    assert diff == []
    with engine.begin() as conn:  # a stored row must survive the second run
        conn.execute(
            raw_stock_data.insert().values(
                ticker="IBM",
                date=date(2010, 1, 4),
                open=1.0,
                high=2.0,
                low=0.5,
                close=1.5,
                volume=10.0,
                source="sample",
                ingested_at=datetime(2010, 1, 5, tzinfo=UTC),
            )
        )
    before = _schema(engine)
    migrate(engine)  # a second run is a no-op
    assert _schema(engine) == before and current_revision(engine) == head_revision()


def _schema(engine: Engine) -> dict[str, object]:
    """Every table's columns, indexes and row count: what a migration could change."""
    shape = inspect(engine)
    with engine.connect() as conn:
        return {
            table: (
                [(c["name"], str(c["type"])) for c in shape.get_columns(table)],
                sorted(str(index) for index in shape.get_indexes(table)),
                conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar(),
            )
            for table in sorted(shape.get_table_names())
        }


# A child that migrates a new SQLite store and stops after its N-th CREATE TABLE, so the test can
# SIGKILL it in the middle of the first schema setup, at a point it knows.
_MIGRATE_AND_PAUSE = """
import sys, time
from sqlalchemy import event
from stockpredictor.db.engine import make_engine, migrate

engine = make_engine(sys.argv[1])
created = 0

@event.listens_for(engine, "after_cursor_execute")
def _pause(conn, cursor, statement, parameters, context, executemany):
    global created
    if statement.lstrip().upper().startswith("CREATE TABLE"):
        created += 1
        if created == int(sys.argv[2]):
            print("paused", flush=True)
            time.sleep(120)

migrate(engine)
"""


def _table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.parametrize("tables_before_kill", [1, 3, 6, len(TABLES) + 1])
def test_a_kill_during_the_first_migration_leaves_a_usable_store(
    tmp_path: Path, tables_before_kill: int
) -> None:
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    child = subprocess.Popen(
        [sys.executable, "-c", _MIGRATE_AND_PAUSE, url, str(tables_before_kill)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "paused"
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert not _table_names(path) & TABLES  # the interrupted setup left none of its tables

    result = invoke(
        "ingest",
        "--as-of",
        "2010-01-04",
        overrides=[tickers("IBM")],
        env={"STOCKPREDICTOR_DATABASE_URL": url},
    )
    assert int(key_output(result)) > 0
    assert _table_names(path) >= TABLES


def test_tables_without_a_schema_version_are_refused_with_the_repair(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE latest_predictions (id INTEGER PRIMARY KEY)")
    result = invoke(
        "ingest", "--as-of", "2010-01-04", env={"STOCKPREDICTOR_DATABASE_URL": f"sqlite:///{path}"}
    )
    assert result.exit_code == 8, result.output
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "(latest_predictions) but no schema version" in line and f"move the file {path} aside" in line


def test_every_sqlite_write_transaction_takes_the_write_lock_up_front(tmp_path: Path) -> None:
    """Not only ingest: any `engine.begin()` block begins with BEGIN IMMEDIATE at its first write."""
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    statements: list[str] = []
    with engine.begin() as conn:
        conn.connection.driver_connection.set_trace_callback(statements.append)  # type: ignore[union-attr]
        conn.execute(text("SELECT count(*) FROM raw_stock_data"))
        conn.execute(text("DELETE FROM raw_stock_data WHERE ticker = 'NONE'"))
    assert [s.split(" WHERE")[0] for s in statements] == [
        "SELECT count(*) FROM raw_stock_data",
        "BEGIN IMMEDIATE",
        "DELETE FROM raw_stock_data",
        "COMMIT",
    ]
    engine.dispose()
