"""Causal technical indicators, computed for every ticker at once.

Each ticker's indicators run on its own rows (not on the exchange calendar): `PriceRows` lays the
tickers side by side, column j holding ticker j's rows in date order from row 0 and NaN after its last
row, so that one pandas operation over the (row, ticker) frame computes an indicator for every
ticker (the same arithmetic as on that ticker alone: rolling and exponential means run column by
column over the same values, and the NaN padding only follows a ticker's last row).

Every indicator at day t uses only rows up to t. The first `WARMUP_ROWS` rows of a ticker are
dropped (rolling windows not yet full); there is no backfill anywhere. Exponentially weighted
indicators (RSI, MACD, ATR) depend on where the history starts, with a memory that decays below
float32 resolution after ~250 rows: serving therefore reads `features.warmup_days` of history. The
formulas are those of the `ta` library (RSI, MACD, Bollinger bands, stochastic oscillator) and of
Wilder's ATR, to the bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")

#: Rows dropped at the start of every ticker: the longest rolling window (MACD slow 26 + signal 9).
WARMUP_ROWS = 40


@dataclass(frozen=True)
class PriceRows:
    """OHLCV rows of several tickers side by side: (row, ticker) arrays, ticker j's rows from row 0 in
    date order, NaN (NaT for dates) after its `lengths[j]` rows."""

    tickers: tuple[str, ...]
    dates: np.ndarray  # (rows, tickers) datetime64[ns]
    columns: dict[str, np.ndarray]  # PRICE_COLUMNS -> (rows, tickers) float64
    lengths: np.ndarray  # (tickers,) int

    @classmethod
    def from_codes(
        cls, tickers: Sequence[str], codes: np.ndarray, dates: np.ndarray, columns: Mapping[str, np.ndarray]
    ) -> PriceRows:
        """From one row per (ticker, day) in any order: `codes` index `tickers` (-1: left out), `dates`
        are datetime64, `columns` holds PRICE_COLUMNS."""
        dates = dates.astype("datetime64[ns]")
        keep = codes >= 0
        order = np.flatnonzero(keep)[np.lexsort((dates[keep], codes[keep]))]
        codes = codes[order].astype(np.int64)
        lengths = np.bincount(codes, minlength=len(tickers))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        position = np.arange(len(codes)) - starts[codes]
        shape = (int(lengths.max(initial=0)), len(tickers))
        laid = {}
        for column in PRICE_COLUMNS:
            laid[column] = np.full(shape, np.nan)
            laid[column][position, codes] = np.asarray(columns[column], dtype=np.float64)[order]
        placed = np.full(shape, np.datetime64("NaT"), dtype="datetime64[ns]")
        placed[position, codes] = dates[order]
        return cls(tuple(tickers), placed, laid, lengths)

    @classmethod
    def from_long(cls, frame: pd.DataFrame, tickers: Sequence[str]) -> PriceRows:
        """From one row per (ticker, day): columns `ticker`, `date` and PRICE_COLUMNS, in any order;
        rows of other tickers are left out."""
        codes = pd.Categorical(frame["ticker"], categories=list(tickers)).codes
        dates = pd.to_datetime(frame["date"]).to_numpy(dtype="datetime64[ns]")
        return cls.from_codes(tickers, codes, dates, {c: frame[c].to_numpy() for c in PRICE_COLUMNS})

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame]) -> PriceRows:
        """From date-indexed OHLCV frames, one per ticker."""
        long = pd.concat(
            [frame.rename_axis("date").reset_index().assign(ticker=t) for t, frame in frames.items()],
            ignore_index=True,
        )
        return cls.from_long(long, tuple(frames))

    def frame(self, column: str) -> pd.DataFrame:
        return pd.DataFrame(self.columns[column])

    def ticker_frame(self, j: int) -> pd.DataFrame:
        """Ticker j's rows as a date-indexed OHLCV frame."""
        n = int(self.lengths[j])
        index = pd.DatetimeIndex(self.dates[:n, j], name="date")
        return pd.DataFrame({c: self.columns[c][:n, j] for c in PRICE_COLUMNS}, index=index)


Indicator = Callable[[PriceRows], pd.DataFrame]


def _log_return(days: int) -> Indicator:
    def compute(rows: PriceRows) -> pd.DataFrame:
        close = rows.frame("close")
        return pd.DataFrame(np.log(close / close.shift(days)))

    return compute


def _rsi(rows: PriceRows, window: int = 14) -> pd.DataFrame:
    """`ta.momentum.RSIIndicator(close, window).rsi() / 100`."""
    close = rows.frame("close")
    diff = close.diff(1)
    up = diff.where(diff > 0, 0.0)
    down = -diff.where(diff < 0, 0.0)
    ema_up = up.ewm(alpha=1 / window, min_periods=window, adjust=False).mean()
    ema_down = down.ewm(alpha=1 / window, min_periods=window, adjust=False).mean()
    relative_strength = ema_up / ema_down
    rsi = np.where(ema_down == 0, 100, 100 - (100 / (1 + relative_strength)))
    return pd.DataFrame(rsi) / 100.0


def _ema(frame: pd.DataFrame, span: int) -> pd.DataFrame:
    return frame.ewm(span=span, min_periods=span, adjust=False).mean()


def _macd_diff(rows: PriceRows) -> pd.DataFrame:
    """`ta.trend.MACD(close).macd_diff() / close` (12, 26, 9)."""
    close = rows.frame("close")
    macd = _ema(close, 12) - _ema(close, 26)
    return (macd - _ema(macd, 9)) / close


def _bollinger(rows: PriceRows, window: int = 20) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Middle, low and high bands of `ta.volatility.BollingerBands(close, window)` (2 deviations)."""
    rolling = rows.frame("close").rolling(window, min_periods=window)
    middle, deviation = rolling.mean(), rolling.std(ddof=0)
    return middle, middle - 2 * deviation, middle + 2 * deviation


def _bollinger_pband(rows: PriceRows) -> pd.DataFrame:
    _, low, high = _bollinger(rows)
    return (rows.frame("close") - low) / (high - low).where(high != low, np.nan)


def _bollinger_wband(rows: PriceRows) -> pd.DataFrame:
    middle, low, high = _bollinger(rows)
    return ((high - low) / middle) * 100


def _stochastic(rows: PriceRows, window: int = 14) -> pd.DataFrame:
    """`ta.momentum.StochasticOscillator(high, low, close, window).stoch() / 100`."""
    lowest = rows.frame("low").rolling(window, min_periods=window).min()
    highest = rows.frame("high").rolling(window, min_periods=window).max()
    return 100 * (rows.frame("close") - lowest) / (highest - lowest) / 100.0


def _wilder_atr(rows: PriceRows, window: int = 14) -> pd.DataFrame:
    """Average true range with Wilder's smoothing, relative to the close: an exponential mean in C."""
    high, low, close = rows.frame("high"), rows.frame("low"), rows.frame("close")
    previous_close = close.shift(1)
    true_range = pd.DataFrame(
        np.fmax(np.fmax(high - low, (high - previous_close).abs()), (low - previous_close).abs())
    )
    return true_range.ewm(alpha=1.0 / window, adjust=False, min_periods=window).mean() / close


def _volume_z(window: int) -> Indicator:
    def compute(rows: PriceRows) -> pd.DataFrame:
        volume = pd.DataFrame(np.log1p(rows.frame("volume")))
        rolling = volume.rolling(window)
        return (volume - rolling.mean()) / (rolling.std() + 1e-9)

    return compute


INDICATORS: dict[str, Indicator] = {
    "log_return_1": _log_return(1),
    "log_return_5": _log_return(5),
    "rsi_14": _rsi,
    "macd_diff": _macd_diff,
    "bb_pband": _bollinger_pband,
    "bb_wband": _bollinger_wband,
    "atr_14": _wilder_atr,
    "stoch_k": _stochastic,
    "volatility_20": lambda rows: _log_return(1)(rows).rolling(20).std(),
    "volume_z_20": _volume_z(20),
    "sma_ratio_20": lambda rows: rows.frame("close") / rows.frame("close").rolling(20).mean() - 1.0,
    "close": lambda rows: rows.frame("close"),
}


def indicator_values(rows: PriceRows, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, tickers, len(names)) float64 indicator values and the (rows, tickers) cells to keep: a
    ticker's rows after its `WARMUP_ROWS` first whose every indicator is finite."""
    values = np.empty((*rows.dates.shape, len(names)))
    for k, name in enumerate(names):
        values[:, :, k] = INDICATORS[name](rows).to_numpy(dtype=np.float64)
    index = np.arange(rows.dates.shape[0])[:, None]
    keep = (index >= WARMUP_ROWS) & (index < rows.lengths[None, :]) & np.isfinite(values).all(axis=2)
    return values, keep


def compute_indicators(prices: pd.DataFrame, names: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Indicator columns `names` for one ticker's date-indexed OHLCV frame, warm-up rows dropped.

    Rows that are still not finite after the warm-up (e.g. a flat 14-day range) are dropped too.
    """
    prices = prices.sort_index()
    values, keep = indicator_values(PriceRows.from_frames({"": prices}), names)
    kept = np.flatnonzero(keep[:, 0])
    return pd.DataFrame(values[kept, 0, :], index=prices.index[kept], columns=list(names))
