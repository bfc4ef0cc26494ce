"""Causal technical indicators computed per ticker with the `ta` library.

Every indicator at day t uses only rows up to t. The first `WARMUP_ROWS` rows of a ticker are
dropped (rolling windows not yet full); there is no backfill anywhere. Exponentially weighted
indicators (RSI, MACD, ATR) depend on where the history starts, with a memory that decays below
float32 resolution after ~250 rows: serving therefore reads `features.warmup_days` of history.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from ta.momentum import RSIIndicator, StochasticOscillator
from ta.trend import MACD
from ta.volatility import BollingerBands

Indicator = Callable[[pd.DataFrame], pd.Series]

#: Rows dropped at the start of every ticker: the longest rolling window (MACD slow 26 + signal 9).
WARMUP_ROWS = 40


def _log_return(days: int) -> Indicator:
    return lambda df: pd.Series(np.log(df["close"] / df["close"].shift(days)), index=df.index)


def _volume_z(window: int) -> Indicator:
    def compute(df: pd.DataFrame) -> pd.Series:
        volume = np.log1p(df["volume"])
        rolling = volume.rolling(window)
        return (volume - rolling.mean()) / (rolling.std() + 1e-9)

    return compute


def _wilder_atr(df: pd.DataFrame, window: int) -> pd.Series:
    """Average true range with Wilder's smoothing, vectorised.

    `ta.volatility.AverageTrueRange` computes the same recursion in a Python loop over rows
    (0.3 s per 10-year ticker); this is the same quantity as an exponential mean in C.
    """
    previous_close = df["close"].shift(1)
    true_range = pd.concat(
        [df["high"] - df["low"], (df["high"] - previous_close).abs(), (df["low"] - previous_close).abs()],
        axis=1,
    ).max(axis=1)
    return true_range.ewm(alpha=1.0 / window, adjust=False, min_periods=window).mean()


INDICATORS: dict[str, Indicator] = {
    "log_return_1": _log_return(1),
    "log_return_5": _log_return(5),
    "rsi_14": lambda df: RSIIndicator(df["close"], window=14).rsi() / 100.0,
    "macd_diff": lambda df: MACD(df["close"]).macd_diff() / df["close"],
    "bb_pband": lambda df: BollingerBands(df["close"], window=20).bollinger_pband(),
    "bb_wband": lambda df: BollingerBands(df["close"], window=20).bollinger_wband(),
    "atr_14": lambda df: _wilder_atr(df, 14) / df["close"],
    "stoch_k": lambda df: StochasticOscillator(df["high"], df["low"], df["close"], window=14).stoch() / 100.0,
    "volatility_20": lambda df: _log_return(1)(df).rolling(20).std(),
    "volume_z_20": _volume_z(20),
    "sma_ratio_20": lambda df: df["close"] / df["close"].rolling(20).mean() - 1.0,
    "close": lambda df: df["close"],
}


def compute_indicators(prices: pd.DataFrame, names: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Indicator columns `names` for one ticker's date-indexed OHLCV frame, warm-up rows dropped.

    Rows that are still not finite after the warm-up (e.g. a flat 14-day range) are dropped too.
    """
    prices = prices.sort_index()
    columns = {name: INDICATORS[name](prices) for name in names}
    features = pd.DataFrame(columns, index=prices.index).iloc[WARMUP_ROWS:]
    finite = np.isfinite(features.to_numpy(dtype=np.float64)).all(axis=1)
    return features.loc[finite].astype(np.float64)
