"""Migration 0002 on real SQLite and real PostgreSQL: a 0001 store's datasets read back identical."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from stockpredictor.db.codec import array_to_bytes
from stockpredictor.db.datasets import load_processed, load_scaled
from stockpredictor.db.engine import alembic_config, current_revision, head_revision, make_engine, migrate
from stockpredictor.db.schema import scalers
from stockpredictor.features.sequences import scale_dataset
from tests.db.test_datasets import sample_panel

PANEL_COLUMNS = ("dates", "features", "close", "targets")
SCALED_COLUMNS = ("x_scaled", "y_scaled")


def to_revision(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        config = alembic_config(engine)
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def blob_table(name: str, columns: tuple[str, ...]) -> sa.TableClause:
    blobs = (sa.column(c, sa.LargeBinary) for c in columns)
    return sa.table(name, sa.column("dataset_run_id", sa.String), *blobs)


def test_0002_moves_stored_arrays_into_chunks_and_back(db_url: str) -> None:
    engine = make_engine(db_url)  # foreign keys on: a table rebuild would cascade-delete
    to_revision(engine, "0001")
    panel = sample_panel()
    scaled = scale_dataset(panel.features, panel.targets, 5, 0.7, 0.15)
    blobs = {c: array_to_bytes(getattr(panel, c)) for c in PANEL_COLUMNS}
    scaled_blobs = {c: array_to_bytes(getattr(scaled, c)) for c in SCALED_COLUMNS}
    with engine.begin() as conn:  # a dataset written by the 0001 code: arrays as .npy columns
        conn.execute(
            sa.table(
                "processed_feature_data",
                *(sa.column(c) for c in ("dataset_run_id", "created_at", "as_of", "source", "target")),
                *(sa.column(c, sa.JSON) for c in ("tickers", "feature_columns", "params")),
                *(sa.column(c, sa.LargeBinary) for c in PANEL_COLUMNS),
            )
            .insert()
            .values(
                dataset_run_id="old",
                created_at=datetime.now(UTC),
                as_of=date(2021, 6, 1),
                source="sample",
                target="log_return",
                tickers=list(panel.tickers),
                feature_columns=list(panel.feature_columns),
                params={},
                **blobs,
            )
        )
        conn.execute(
            sa.table(
                "scaled_feature_sets",
                *(sa.column(c) for c in ("dataset_run_id", "created_at", "sequence_length")),
                *(sa.column(c) for c in ("n_train", "n_validation", "n_test")),
                *(sa.column(c, sa.LargeBinary) for c in SCALED_COLUMNS),
            )
            .insert()
            .values(
                dataset_run_id="old",
                created_at=datetime.now(UTC),
                sequence_length=5,
                n_train=scaled.split.train,
                n_validation=scaled.split.validation,
                n_test=scaled.split.test,
                **scaled_blobs,
            )
        )
        conn.execute(
            scalers.insert().values(
                dataset_run_id="old", x_scaler=scaled.x_scaler.to_json(), y_scaler=scaled.y_scaler.to_json()
            )
        )

    migrate(engine)

    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        processed, restored = load_processed(conn, "old"), load_scaled(conn, "old")
    for column in PANEL_COLUMNS:
        assert array_to_bytes(getattr(processed.panel, column)) == blobs[column]
    for column in SCALED_COLUMNS:
        assert array_to_bytes(getattr(restored, column)) == scaled_blobs[column]
    assert np.isnan(processed.panel.targets[-1]).all()

    to_revision(engine, "0001", down=True)

    with engine.connect() as conn:
        for table, expected in (("processed_feature_data", blobs), ("scaled_feature_sets", scaled_blobs)):
            row = conn.execute(sa.select(blob_table(table, tuple(expected)))).one()
            assert {c: bytes(getattr(row, c)) for c in expected} == expected
        assert "dataset_arrays" not in sa.inspect(conn).get_table_names()
    engine.dispose()
