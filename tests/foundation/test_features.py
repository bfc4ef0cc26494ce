"""Features, targets, windows and scaling on plain arrays: causality, horizon, train-only scaling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler as SklearnMinMax

from stockpredictor.errors import MissingDataError
from stockpredictor.features.indicators import INDICATORS, WARMUP_ROWS, compute_indicators
from stockpredictor.features.panel import build_panel, next_day_targets, targets_to_close
from stockpredictor.features.scaling import MinMaxScaler
from stockpredictor.features.sequences import Windows, scale_dataset

ALL = tuple(name for name in INDICATORS if name != "close")


def random_walk(days: int, seed: int, start: str = "2010-01-04") -> pd.DataFrame:
    """OHLCV frame of a geometric random walk on business days."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, days)))
    spread = np.abs(rng.normal(0, 0.01, days)) * close
    return pd.DataFrame(
        {
            "open": close * (1 + rng.normal(0, 0.005, days)),
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": rng.integers(1_000_000, 5_000_000, days).astype(float),
        },
        index=pd.bdate_range(start, periods=days, name="date"),
    )


def test_warmup_dropped_and_no_nan() -> None:
    features = compute_indicators(random_walk(300, 1), ALL)
    assert len(features) == 300 - WARMUP_ROWS
    assert np.isfinite(features.to_numpy()).all()


def test_appending_later_data_changes_no_earlier_feature_or_target() -> None:
    full = {t: random_walk(400, seed) for seed, t in enumerate(["A", "B", "C"])}
    early = {t: frame.iloc[:300] for t, frame in full.items()}
    before = build_panel(early, ALL)
    after = build_panel(full, ALL)
    n = len(before.dates)
    np.testing.assert_array_equal(after.dates[:n], before.dates)
    np.testing.assert_array_equal(after.features[:n], before.features)
    np.testing.assert_array_equal(after.targets[: n - 1], before.targets[: n - 1])
    assert np.isnan(before.targets[-1]).all() and np.isfinite(after.targets[n - 1]).all()


def test_target_is_next_day_log_return_one_shift() -> None:
    close = np.array([[100.0], [110.0], [99.0]])
    targets = next_day_targets(close, "log_return")
    np.testing.assert_allclose(targets[:2, 0], [np.log(1.1), np.log(0.9)], rtol=1e-6)
    assert np.isnan(targets[2, 0])
    np.testing.assert_allclose(targets_to_close(targets[:1], close[:1], "log_return"), [[110.0]], rtol=1e-6)


def test_panel_aligns_on_shared_days() -> None:
    late = random_walk(200, 2, start="2010-03-01")
    panel = build_panel({"A": random_walk(300, 1), "B": late}, ("log_return_1", "rsi_14"))
    assert panel.dates[0] == np.datetime64(late.index[WARMUP_ROWS].date())
    assert panel.features.shape == (len(panel.dates), 2, 2)
    assert panel.features.dtype == np.float32


def test_windows_gather_the_right_days() -> None:
    panel = np.arange(10 * 2 * 3, dtype=np.float32).reshape(10, 2, 3)
    targets = np.arange(20, dtype=np.float32).reshape(10, 2)
    windows = Windows(panel, targets, np.array([3, 9]), sequence_length=4)
    x, y = windows.batch(np.array([0, 1]))
    np.testing.assert_array_equal(x[0], panel[0:4])
    np.testing.assert_array_equal(x[1], panel[6:10])
    np.testing.assert_array_equal(y, targets[[3, 9]])


def test_scalers_fit_on_training_days_only_and_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(120, 3, 4)).astype(np.float32)
    features[100:] += 50.0  # a regime the training part never sees
    targets = rng.normal(size=(120, 3)).astype(np.float32)
    targets[-1] = np.nan
    dataset = scale_dataset(features, targets, sequence_length=10, train=0.6, validation=0.2)
    last_train_day = int(dataset.windows("train").end_days[-1])
    reference = SklearnMinMax().fit(features[: last_train_day + 1].reshape(last_train_day + 1, -1))
    expected = reference.transform(features.reshape(120, -1)).reshape(features.shape)
    np.testing.assert_allclose(dataset.x_scaled, expected, atol=1e-6)
    assert dataset.x_scaled[: last_train_day + 1].max() <= 1.0 + 1e-6
    assert dataset.x_scaled[100:].max() > 1.0
    sizes = [len(dataset.windows(p)) for p in ("train", "validation", "test")]
    assert sizes == [dataset.split.train, dataset.split.validation, dataset.split.test]
    assert sum(sizes) == 120 - 10


def test_scaler_json_round_trip_is_exact() -> None:
    rng = np.random.default_rng(1)
    scaler = MinMaxScaler.fit(rng.normal(size=(50, 3, 4)))
    restored = MinMaxScaler.from_json(scaler.to_json())
    np.testing.assert_array_equal(restored.data_min, scaler.data_min)
    np.testing.assert_array_equal(restored.data_max, scaler.data_max)
    values = rng.normal(size=(5, 3, 4))
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(values)), values, atol=1e-5)


def test_too_little_history_is_a_clear_error() -> None:
    with pytest.raises(MissingDataError, match="too little history"):
        scale_dataset(np.zeros((10, 1, 2), np.float32), np.zeros((10, 1), np.float32), 10, 0.7, 0.15)
    with pytest.raises(MissingDataError, match="too little history"):
        scale_dataset(np.zeros((13, 1, 2), np.float32), np.zeros((13, 1), np.float32), 10, 0.7, 0.15)
