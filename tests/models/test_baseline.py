"""The persistence forecaster predicts the last close, through the scalers, for any window."""

from __future__ import annotations

import numpy as np
import torch

from stockpredictor.features.panel import targets_to_close
from stockpredictor.features.scaling import MinMaxScaler
from stockpredictor.models.baseline import PersistenceForecaster


def test_persistence_predicts_the_last_close_for_any_window() -> None:
    y_scaler = MinMaxScaler.fit(np.array([[-0.05, -0.02, -0.1], [0.04, 0.03, 0.08]]))
    windows = torch.from_numpy(np.random.default_rng(0).normal(size=(5, 7, 3, 4)).astype(np.float32))
    with torch.inference_mode():
        scaled = PersistenceForecaster(y_scaler)(windows).numpy()
    assert scaled.shape == (5, 3)
    last_close = np.array([10.0, 250.0, 31.5])
    predicted = targets_to_close(y_scaler.inverse_transform(scaled), last_close, "log_return")
    np.testing.assert_allclose(predicted, np.broadcast_to(last_close, (5, 3)), rtol=1e-6)
