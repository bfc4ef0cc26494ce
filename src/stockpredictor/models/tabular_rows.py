"""Pooled (window, stock) rows for the tabular learners, computed from the same model input windows.

A tabular model reads exactly what an LSTM reads: the scaled window (batch, sequence, stocks,
features + presence), absent cells filled and flagged by the presence channel (`features.sequences`).
Each (window, stock) becomes one row, so one model is fitted on every ticker's sessions (pooled):

| columns | what |
|---|---|
| `lags` | the stock's own log returns on the window's last `lags` sessions (newest first), / sigma |
| `lags` | the market's (mean over the stocks present) log returns on those sessions, / sigma |
| stocks | each stock's log return on the last session, / that stock's own sigma (peers) |
| features | the stock's scaled features on the last session (0.5 where absent, as in the window) |
| 1 | log sigma: the stock's volatility level |
| stocks | ticker identity, one-hot |

sigma is the standard deviation of the stock's log returns over its window (floored at `SIGMA_FLOOR`):
inputs and the target are volatility-normalised, so one model serves calm and wild tickers alike.
Log returns are the `return_column` feature unscaled with the dataset's x scaler. An absent return
(a peer or a day missing from the window) is 0 after normalisation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

#: No window's volatility is taken below this (a log return of 0.01 %): flat windows stay finite.
SIGMA_FLOOR = 1e-4


@dataclass(frozen=True)
class RowLayout:
    """What turns a window into rows: sizes, lags, and the x scaler of the return feature per stock."""

    n_stocks: int
    n_features: int  # scaled features per stock, the presence channel not counted
    return_column: int  # index of `config.RETURN_FEATURE` among the features
    lags: int
    return_min: tuple[float, ...]  # (stocks,) the x scaler's data_min of the return feature
    return_scale: tuple[float, ...]  # (stocks,) its scale (1 / span)

    def __post_init__(self) -> None:
        if self.lags < 1:
            raise ValueError(f"lags must be >= 1, got {self.lags}")
        if not 0 <= self.return_column < self.n_features:
            raise ValueError(f"return_column {self.return_column} is not one of {self.n_features} features")
        if len(self.return_min) != self.n_stocks or len(self.return_scale) != self.n_stocks:
            raise ValueError("return_min and return_scale need one value per stock")

    @property
    def n_columns(self) -> int:
        """Columns of a row."""
        return 2 * self.lags + 2 * self.n_stocks + self.n_features + 1


def window_returns(x: np.ndarray, layout: RowLayout) -> np.ndarray:
    """(batch, sequence, stocks) float64 log returns of each window, NaN where the stock is absent."""
    present = x[..., -1] > 0.5
    scaled = x[..., layout.return_column].astype(np.float64)
    returns = scaled / np.asarray(layout.return_scale) + np.asarray(layout.return_min)
    return np.where(present, returns, np.nan)


def window_sigma(returns: np.ndarray) -> np.ndarray:
    """(batch, stocks) standard deviation of each stock's present returns over its window, floored."""
    count = np.isfinite(returns).sum(axis=1)
    filled = np.nan_to_num(returns)
    mean = filled.sum(axis=1) / np.maximum(count, 1)
    deviation = np.where(np.isfinite(returns), returns - mean[:, None, :], 0.0)
    variance = (deviation**2).sum(axis=1) / np.maximum(count, 1)
    return np.maximum(np.sqrt(variance), SIGMA_FLOOR)


def tabular_rows(x: np.ndarray, layout: RowLayout) -> tuple[np.ndarray, np.ndarray]:
    """Rows (batch * stocks, n_columns) float64 of windows x, window-major, and each row's sigma."""
    batch, sequence, n_stocks, n_inputs = x.shape
    if n_stocks != layout.n_stocks or n_inputs != layout.n_features + 1:
        raise ValueError(
            f"windows of {n_stocks} stocks x {n_inputs} inputs do not fit a layout of "
            f"{layout.n_stocks} x {layout.n_features + 1}"
        )
    if layout.lags > sequence:
        raise ValueError(f"{layout.lags} lags need windows of at least {layout.lags} sessions")
    returns = window_returns(x, layout)
    sigma = window_sigma(returns)  # (B, S)
    recent = returns[:, ::-1][:, : layout.lags]  # (B, lags, S), newest first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a session no stock is present on
        market = np.nanmean(recent, axis=2)  # (B, lags)
    own = np.nan_to_num(recent / sigma[:, None, :])  # (B, lags, S)
    market_own = np.nan_to_num(market[:, :, None] / sigma[:, None, :])  # (B, lags, S)
    peers = np.nan_to_num(recent[:, 0] / sigma)  # (B, S)
    last = x[:, -1, :, : layout.n_features].astype(np.float64)  # (B, S, F)
    columns = [
        own.transpose(0, 2, 1),
        market_own.transpose(0, 2, 1),
        np.broadcast_to(peers[:, None, :], (batch, n_stocks, n_stocks)),
        last,
        np.log(sigma)[..., None],
        np.broadcast_to(np.eye(n_stocks), (batch, n_stocks, n_stocks)),
    ]
    rows = np.concatenate(columns, axis=2).reshape(batch * n_stocks, layout.n_columns)
    return rows, sigma.reshape(-1)
