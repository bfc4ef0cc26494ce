"""Windows and dataset scaling on plain arrays: the right days, scalers fitted on training days only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler as SklearnMinMax

from stockpredictor.errors import MissingDataError
from stockpredictor.features.sequences import ABSENT_FILL, Windows, sample_end_days, scale_dataset


def test_windows_gather_the_right_days() -> None:
    panel = np.arange(10 * 2 * 3, dtype=np.float32).reshape(10, 2, 3)
    targets = np.arange(20, dtype=np.float32).reshape(10, 2)
    windows = Windows(panel, targets, np.array([3, 9]), sequence_length=4)
    x, y = windows.batch(np.array([0, 1]))
    assert x.shape == (2, 4, 2, 4) and windows.n_inputs == 4 and windows.sample_nbytes == 4 * 4 * 2 * 4
    np.testing.assert_array_equal(x[0, ..., :3], panel[0:4])
    np.testing.assert_array_equal(x[1, ..., :3], panel[6:10])
    assert (x[..., 3] == 1.0).all()  # every cell present
    np.testing.assert_array_equal(y, targets[[3, 9]])


def test_absent_cells_are_filled_flagged_and_mask_their_samples() -> None:
    panel = np.zeros((10, 2, 3), dtype=np.float32)
    panel[5, 1] = np.nan  # stock 1 absent on day 5
    targets = np.ones((10, 2), dtype=np.float32)
    targets[-1] = np.nan
    windows = Windows(panel, targets, np.arange(3, 9), sequence_length=4)
    x, y = windows.batch(np.arange(len(windows)))
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x[:, :, 1, 3], (np.arange(3, 9)[:, None] - 3 + np.arange(4)) != 5)
    assert (x[x[..., 3] == 0][:, :3] == ABSENT_FILL).all()
    # windows ending on days 5..8 hold day 5: no sample for stock 1; stock 0 is a sample everywhere
    np.testing.assert_array_equal(np.isfinite(y[:, 1]), [True, True, False, False, False, False])
    assert np.isfinite(y[:, 0]).all()
    np.testing.assert_array_equal(windows.complete()[:, 1], np.isfinite(y[:, 1]))
    np.testing.assert_array_equal(windows.observed_targets(), y)  # the same targets, no input built
    assert list(sample_end_days(panel, targets, 4)) == [3, 4, 5, 6, 7, 8]  # stock 0 keeps them


def test_scalers_fit_on_present_training_cells_only() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(80, 3, 2)).astype(np.float32)
    targets = rng.normal(size=(80, 3)).astype(np.float32)
    targets[-1] = np.nan
    features[:60, 2] = np.nan  # stock 2 lists on day 60, after the training part
    targets[:60, 2] = np.nan
    features[10, 0] = np.nan  # stock 0 is absent on day 10 ...
    targets[9:11, 0] = np.nan
    targets[15, 0] = 1e6  # ... so a window over day 10 is no sample: its (impossible) target is not fitted
    features[20:30, 1] = 1e6  # a present outlier inside the training part is fitted
    sequence_length = 10  # windows ending on days 10..19 hold day 10
    dataset = scale_dataset(features, targets, sequence_length, train=0.5, validation=0.25)
    train_ends = dataset.windows("train").end_days
    assert dataset.y_scaler.data_max[0] < 1e6
    assert dataset.x_scaler.data_max[1].max() == pytest.approx(1e6)
    seen = features[: train_ends[-1] + 1]
    np.testing.assert_allclose(dataset.x_scaler.data_min[:2], np.nanmin(seen[:, :2], axis=0))
    # the stock listed later takes every feature's range over the stocks present in training
    np.testing.assert_allclose(dataset.x_scaler.data_min[2], np.nanmin(seen, axis=(0, 1)))
    assert np.isnan(dataset.x_scaled[:60, 2]).all() and np.isfinite(dataset.x_scaled[60:, 2]).all()


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


def test_too_little_history_is_a_clear_error() -> None:
    with pytest.raises(MissingDataError, match="too little history"):
        scale_dataset(np.zeros((10, 1, 2), np.float32), np.zeros((10, 1), np.float32), 10, 0.7, 0.15)
    with pytest.raises(MissingDataError, match="too little history"):
        scale_dataset(np.zeros((13, 1, 2), np.float32), np.zeros((13, 1), np.float32), 10, 0.7, 0.15)
