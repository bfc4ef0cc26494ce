"""The persistence forecaster (tomorrow's close = today's) as a model with the trained models' contract.

It takes the same scaled (batch, sequence, stocks, features) windows and returns scaled targets
(batch, stocks), so it can be registered, exported pickle-free and served like any trained version.
Only the `log_return` target has a window-independent "no change" value (a log return of 0).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stockpredictor.features.scaling import MinMaxScaler

PERSISTENCE = "persistence"


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
