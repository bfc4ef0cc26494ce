"""Align per-ticker features into a (days, stocks, features) panel with next-day targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockpredictor.errors import MissingDataError
from stockpredictor.features.indicators import compute_indicators


@dataclass(frozen=True)
class Panel:
    """Features of every stock on the trading days all stocks share.

    `targets[t]` is what the model predicts from the window ending on day t: the next day's
    log return (or close); NaN on the last day, whose next day is not known yet.
    """

    dates: np.ndarray  # (days,) datetime64[D]
    tickers: tuple[str, ...]
    feature_columns: tuple[str, ...]
    features: np.ndarray  # (days, stocks, features) float32
    close: np.ndarray  # (days, stocks) float64, adjusted close of each day
    targets: np.ndarray  # (days, stocks) float32


def build_panel(
    prices: Mapping[str, pd.DataFrame], indicators: tuple[str, ...], target: str = "log_return"
) -> Panel:
    """Compute indicators per ticker (date-indexed OHLCV frames) and align them on shared dates."""
    if not prices:
        raise ValueError("no tickers to build a panel from")
    tickers = tuple(prices)
    per_ticker = {t: compute_indicators(prices[t], indicators) for t in tickers}
    shared = None
    for frame in per_ticker.values():
        shared = frame.index if shared is None else shared.intersection(frame.index)
    assert shared is not None
    shared = shared.sort_values()
    if len(shared) == 0:
        raise MissingDataError(f"tickers {list(tickers)} share no day with complete features")
    features = np.stack([per_ticker[t].loc[shared].to_numpy() for t in tickers], axis=1)
    close = np.stack([prices[t]["close"].loc[shared].to_numpy(dtype=np.float64) for t in tickers], axis=1)
    return Panel(
        dates=shared.to_numpy().astype("datetime64[D]"),
        tickers=tickers,
        feature_columns=tuple(indicators),
        features=features.astype(np.float32),
        close=close,
        targets=next_day_targets(close, target),
    )


def next_day_targets(close: np.ndarray, target: str) -> np.ndarray:
    """Target of day t from the close of day t+1 (one shift); NaN for the last day."""
    out = np.full(close.shape, np.nan, dtype=np.float64)
    if target == "log_return":
        out[:-1] = np.log(close[1:] / close[:-1])
    elif target == "close":
        out[:-1] = close[1:]
    else:
        raise ValueError(f"unknown target {target!r}; choose log_return or close")
    return out.astype(np.float32)


def targets_to_close(predicted: np.ndarray, last_close: np.ndarray, target: str) -> np.ndarray:
    """Turn predicted targets (unscaled) into next-day close prices given the last observed close."""
    if target == "log_return":
        return last_close * np.exp(predicted.astype(np.float64))
    if target == "close":
        return predicted.astype(np.float64)
    raise ValueError(f"unknown target {target!r}; choose log_return or close")
