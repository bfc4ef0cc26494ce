"""The persistence forecaster (tomorrow's close = today's) as a model with the trained models' contract.

It takes the same scaled (batch, sequence, stocks, features) windows and returns scaled targets
(batch, stocks), so it can be registered, exported pickle-free and served like any trained version.
Only the `log_return` target has a window-independent "no change" value (a log return of 0).

Its output is never turned into prices: the scaled "no change" in float32 does not invert to exactly 0,
so every path that serves or scores it takes the last close itself (`exact_persistence`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stockpredictor.features.scaling import MinMaxScaler

PERSISTENCE = "persistence"


def exact_persistence(
    predicted_close: np.ndarray, last_close: np.ndarray, persistence: np.ndarray
) -> np.ndarray:
    """`predicted_close` with the last close itself, bit for bit, wherever `persistence` (broadcast) holds."""
    return np.where(persistence, last_close, predicted_close)


class PersistenceForecaster(nn.Module):
    """Predicts "no change" for every stock: the scaled value of a zero log return."""

    def __init__(self, y_scaler: MinMaxScaler) -> None:
        super().__init__()
        self.no_change: torch.Tensor
        self.register_buffer(
            "no_change", torch.from_numpy(y_scaler.transform(np.zeros(y_scaler.data_min.shape)))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x[:, -1, :, 0]) + self.no_change
