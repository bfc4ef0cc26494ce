"""The store on real SQLite and real PostgreSQL: migrations, exact round trips, idempotent writes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from stockpredictor.db.codec import array_from_bytes, array_to_bytes
from stockpredictor.db.datasets import (
    DatasetNotFoundError,
    load_processed,
    load_scaled,
    save_processed,
    save_scaled,
)
from stockpredictor.db.engine import VERSION_TABLE, current_revision, head_revision, migrate
from stockpredictor.db.prices import insert_prices, latest_dates, load_prices
from stockpredictor.db.schema import metadata
from stockpredictor.features.panel import Panel
from stockpredictor.features.sequences import scale_dataset

TABLES = {
    "raw_stock_data",
    "processed_feature_data",
    "scaled_feature_sets",
    "scalers",
    "optimization_results",
    "latest_predictions",
    "model_performance_log",
    "model_promotions",
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


def test_array_codec_refuses_pickle() -> None:
    with pytest.raises(ValueError):
        array_to_bytes(np.array([{"a": 1}], dtype=object))
    payload = array_to_bytes(np.array([1.5, np.nan], dtype=np.float32))
    np.testing.assert_array_equal(array_from_bytes(payload), np.array([1.5, np.nan], dtype=np.float32))


def prices_frame(days: int, start: str = "2020-01-02") -> pd.DataFrame:
    dates = pd.bdate_range(start, periods=days)
    base = np.linspace(10, 20, days)
    return pd.DataFrame(
        {
            "date": dates,
            "open": base,
            "high": base + 1,
            "low": base - 1,
            "close": base + 0.5,
            "volume": np.full(days, 1e6),
        }
    )


def test_prices_insert_is_idempotent(engine: Engine) -> None:
    frame = prices_frame(10)
    with engine.begin() as conn:
        assert insert_prices(conn, {"AAA": frame, "CCC": frame.iloc[:3]}, "sample") == {"AAA": 10, "CCC": 3}
    with engine.begin() as conn:
        assert insert_prices(conn, {"AAA": frame}, "sample") == {"AAA": 0}
        assert insert_prices(conn, {"AAA": prices_frame(12), "CCC": frame}, "sample") == {"AAA": 2, "CCC": 7}
    with engine.connect() as conn:
        assert latest_dates(conn, ["AAA", "BBB"]) == {"AAA": date(2020, 1, 17), "BBB": None}
        loaded = load_prices(conn, ["AAA", "BBB"], as_of=date(2020, 1, 10))
    assert len(loaded["AAA"]) == 7 and loaded["BBB"].empty
    assert loaded["AAA"].index.max() == pd.Timestamp("2020-01-10")
    np.testing.assert_array_equal(loaded["AAA"]["close"].to_numpy(), frame["close"].to_numpy()[:7])


def sample_panel(days: int = 80) -> Panel:
    rng = np.random.default_rng(3)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, (days, 2)), axis=0))
    targets = np.full((days, 2), np.nan, np.float32)
    targets[:-1] = np.log(close[1:] / close[:-1])
    return Panel(
        dates=np.array(pd.bdate_range("2021-01-04", periods=days).date, dtype="datetime64[D]"),
        tickers=("AAA", "BBB"),
        feature_columns=("f1", "f2", "f3"),
        features=rng.normal(size=(days, 2, 3)).astype(np.float32),
        close=close,
        targets=targets,
    )


def test_datasets_round_trip_bit_for_bit(engine: Engine) -> None:
    panel = sample_panel()
    scaled = scale_dataset(panel.features, panel.targets, 5, 0.7, 0.15)
    with engine.begin() as conn:
        save_processed(
            conn, "run1", panel, as_of=date(2021, 6, 1), source="sample", target="log_return", params={"k": 1}
        )
        save_scaled(conn, "run1", scaled)
        save_scaled(conn, "run1", scaled)  # rescaling replaces, never duplicates
    with engine.connect() as conn:
        processed = load_processed(conn, "run1")
        restored = load_scaled(conn, "run1")
    for name in ("dates", "features", "close", "targets"):
        np.testing.assert_array_equal(getattr(processed.panel, name), getattr(panel, name))
        assert getattr(processed.panel, name).dtype == getattr(panel, name).dtype
    assert processed.panel.tickers == panel.tickers and processed.as_of == date(2021, 6, 1)
    np.testing.assert_array_equal(restored.x_scaled, scaled.x_scaled)
    np.testing.assert_array_equal(restored.y_scaled, scaled.y_scaled)
    for name in ("x_scaler", "y_scaler"):
        np.testing.assert_array_equal(getattr(restored, name).data_min, getattr(scaled, name).data_min)
        np.testing.assert_array_equal(getattr(restored, name).data_max, getattr(scaled, name).data_max)
    assert restored.split == scaled.split


def test_unknown_run_id_is_named(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(DatasetNotFoundError, match="'nope'"):
        load_processed(conn, "nope")
    with engine.connect() as conn, pytest.raises(DatasetNotFoundError, match="'nope'"):
        load_scaled(conn, "nope")
