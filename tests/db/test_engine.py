"""Migrations on real SQLite and real PostgreSQL: every table, exactly the declared schema, idempotent."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from stockpredictor.db.engine import VERSION_TABLE, current_revision, head_revision, migrate
from stockpredictor.db.schema import metadata

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
    migrate(engine)  # a second run is a no-op
