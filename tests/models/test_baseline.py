"""The persistence forecaster: its scaled output, and the exact forecast every path serves instead."""

from __future__ import annotations

import numpy as np
import torch

from stockpredictor.features.panel import targets_to_close
from stockpredictor.features.scaling import MinMaxScaler
from stockpredictor.models.baseline import PersistenceForecaster, exact_persistence


def test_persistence_predicts_the_last_close_for_any_window() -> None:
    y_scaler = MinMaxScaler.fit(np.array([[-0.05, -0.02, -0.1], [0.04, 0.03, 0.08]]))
    windows = torch.from_numpy(np.random.default_rng(0).normal(size=(5, 7, 3, 4)).astype(np.float32))
    with torch.inference_mode():
        scaled = PersistenceForecaster(y_scaler)(windows).numpy()
    assert scaled.shape == (5, 3)
    last_close = np.array([10.0, 250.0, 31.5])
    predicted = targets_to_close(y_scaler.inverse_transform(scaled), last_close, "log_return")
    np.testing.assert_allclose(predicted, np.broadcast_to(last_close, (5, 3)), rtol=1e-6)


def test_the_served_persistence_forecast_is_the_last_close_bit_for_bit() -> None:
    y_scaler = MinMaxScaler.fit(np.array([[-0.05, -0.02, -0.1], [0.04, 0.03, 0.08]]))
    last_close = np.array([[10.0, 250.0, 31.5], [10.1, 251.3, 31.49]])
    scaled = y_scaler.transform(np.zeros((2, 3))).astype(np.float32)
    round_trip = targets_to_close(y_scaler.inverse_transform(scaled), last_close, "log_return")
    assert (round_trip != last_close).any()  # the scaler round trip is off by a few ulps: never served
    served = exact_persistence(round_trip, last_close, np.array([True, False, True]))
    assert (served[:, [0, 2]] == last_close[:, [0, 2]]).all()  # exact, not approximately
    assert (served[:, 1] == round_trip[:, 1]).all()  # a ticker the model serves keeps its forecast
