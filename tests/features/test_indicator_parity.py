"""The vectorised indicators equal, bit for bit, the per-ticker `ta` computation they replaced (issue 22):
on the bundled sample (split-adjusted, GOOG listed late, FB short) and on random walks with gaps."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from ta.momentum import RSIIndicator, StochasticOscillator
from ta.trend import MACD
from ta.volatility import BollingerBands

from stockpredictor.features.indicators import INDICATORS, WARMUP_ROWS, PriceRows, compute_indicators
from stockpredictor.features.panel import build_panel
from stockpredictor.sources.sample import SampleSource
from tests.features.conftest import RandomWalk

ALL = tuple(INDICATORS)


def _reference_atr(df: pd.DataFrame, window: int) -> pd.Series:
    previous_close = df["close"].shift(1)
    true_range = pd.concat(
        [df["high"] - df["low"], (df["high"] - previous_close).abs(), (df["low"] - previous_close).abs()],
        axis=1,
    ).max(axis=1)
    return true_range.ewm(alpha=1.0 / window, adjust=False, min_periods=window).mean()


def _reference_log_return(df: pd.DataFrame, days: int) -> pd.Series:
    return pd.Series(np.log(df["close"] / df["close"].shift(days)), index=df.index)


def _reference_volume_z(df: pd.DataFrame) -> pd.Series:
    volume = np.log1p(df["volume"])
    rolling = volume.rolling(20)
    return (volume - rolling.mean()) / (rolling.std() + 1e-9)


REFERENCE = {  # the per-ticker code of `features.indicators` before issue 22
    "log_return_1": lambda df: _reference_log_return(df, 1),
    "log_return_5": lambda df: _reference_log_return(df, 5),
    "rsi_14": lambda df: RSIIndicator(df["close"], window=14).rsi() / 100.0,
    "macd_diff": lambda df: MACD(df["close"]).macd_diff() / df["close"],
    "bb_pband": lambda df: BollingerBands(df["close"], window=20).bollinger_pband(),
    "bb_wband": lambda df: BollingerBands(df["close"], window=20).bollinger_wband(),
    "atr_14": lambda df: _reference_atr(df, 14) / df["close"],
    "stoch_k": lambda df: StochasticOscillator(df["high"], df["low"], df["close"], window=14).stoch() / 100.0,
    "volatility_20": lambda df: _reference_log_return(df, 1).rolling(20).std(),
    "volume_z_20": _reference_volume_z,
    "sma_ratio_20": lambda df: df["close"] / df["close"].rolling(20).mean() - 1.0,
    "close": lambda df: df["close"],
}


def _reference(prices: pd.DataFrame) -> pd.DataFrame:
    prices = prices.sort_index()
    features = pd.DataFrame({name: REFERENCE[name](prices) for name in ALL}, index=prices.index)
    features = features.iloc[WARMUP_ROWS:]
    return features.loc[np.isfinite(features.to_numpy(dtype=np.float64)).all(axis=1)].astype(np.float64)


def _sample() -> dict[str, pd.DataFrame]:
    source = SampleSource()
    frames = {t: source.fetch(t, None, date(2013, 3, 1)) for t in ("AAPL", "GOOG", "IBM", "MSFT", "FB")}
    return {
        t: f.set_index(pd.DatetimeIndex(f["date"], name="date")).drop(columns="date")
        for t, f in frames.items()
    }


def _gappy(random_walk: RandomWalk) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(5)
    frames = {}
    for seed in range(6):
        frame = random_walk(400, seed, start=f"2010-0{1 + seed}-04")
        frames[f"T{seed}"] = frame.drop(index=frame.index[rng.integers(1, 399, size=5)])  # missing days
    frames["FLAT"] = random_walk(120, 9).assign(high=50.0, low=50.0, close=50.0)  # no range: RSI, stoch NaN
    return frames


@pytest.mark.parametrize("universe", ["sample", "gappy"])
def test_every_indicator_equals_the_per_ticker_computation_bit_for_bit(
    universe: str, random_walk: RandomWalk
) -> None:
    frames = _sample() if universe == "sample" else _gappy(random_walk)
    rows = PriceRows.from_frames(frames)
    panel = build_panel(rows, ALL)
    for j, ticker in enumerate(frames):
        expected = _reference(frames[ticker])
        alone = compute_indicators(frames[ticker], ALL)
        pd.testing.assert_frame_equal(alone, expected, check_exact=True, check_freq=False)
        on_panel = pd.DataFrame(panel.features[:, j, :], index=pd.DatetimeIndex(panel.dates)).dropna()
        np.testing.assert_array_equal(on_panel.index.to_numpy(), expected.index.to_numpy())
        np.testing.assert_array_equal(on_panel.to_numpy(), expected.to_numpy().astype(np.float32))
    if universe == "gappy":
        assert compute_indicators(frames["FLAT"], ALL).empty  # the path of cells that are not finite ran


def test_rows_from_long_records_in_any_order_equal_rows_from_frames(random_walk: RandomWalk) -> None:
    frames = {"B": random_walk(60, 1), "A": random_walk(45, 2, start="2010-02-01")}
    long = pd.concat([f.reset_index().assign(ticker=t) for t, f in frames.items()], ignore_index=True)
    shuffled = long.sample(frac=1.0, random_state=0)
    from_long = PriceRows.from_long(pd.concat([shuffled, shuffled.assign(ticker="other")]), ("B", "A"))
    from_frames = PriceRows.from_frames(frames)
    assert from_long.tickers == ("B", "A") and list(from_long.lengths) == [60, 45]
    np.testing.assert_array_equal(from_long.dates, from_frames.dates)
    for column, values in from_frames.columns.items():
        np.testing.assert_array_equal(from_long.columns[column], values)
    assert np.isnan(from_long.columns["close"][45:, 1]).all() and np.isnat(from_long.dates[45:, 1]).all()
