"""The min-max scaler: an exact JSON round trip (scalers are stored as JSON, never pickled)."""

from __future__ import annotations

import numpy as np

from stockpredictor.features.scaling import MinMaxScaler


def test_scaler_json_round_trip_is_exact() -> None:
    rng = np.random.default_rng(1)
    scaler = MinMaxScaler.fit(rng.normal(size=(50, 3, 4)))
    restored = MinMaxScaler.from_json(scaler.to_json())
    np.testing.assert_array_equal(restored.data_min, scaler.data_min)
    np.testing.assert_array_equal(restored.data_max, scaler.data_max)
    values = rng.normal(size=(5, 3, 4))
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(values)), values, atol=1e-5)
