"""Windows and dataset scaling on plain arrays: the right days, scalers fitted on training days only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler as SklearnMinMax

from stockpredictor.errors import MissingDataError
from stockpredictor.features.sequences import Windows, scale_dataset


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


def test_too_little_history_is_a_clear_error() -> None:
    with pytest.raises(MissingDataError, match="too little history"):
        scale_dataset(np.zeros((10, 1, 2), np.float32), np.zeros((10, 1), np.float32), 10, 0.7, 0.15)
    with pytest.raises(MissingDataError, match="too little history"):
        scale_dataset(np.zeros((13, 1, 2), np.float32), np.zeros((13, 1), np.float32), 10, 0.7, 0.15)
