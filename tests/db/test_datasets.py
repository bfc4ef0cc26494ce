"""Versioned datasets on real SQLite and real PostgreSQL: bit-for-bit round trips, unknown ids named."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from stockpredictor.db.datasets import (
    DatasetNotFoundError,
    load_processed,
    load_scaled,
    save_processed,
    save_scaled,
)
from stockpredictor.features.panel import Panel
from stockpredictor.features.sequences import scale_dataset


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
