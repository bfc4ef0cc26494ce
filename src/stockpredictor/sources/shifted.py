"""A what-if source: another source's prices with every log move from one day on scaled by a factor.

`ScaledMovesSource(source, first_day, factor)` keeps each ticker's path up to the close before
`first_day`; from there every log price (open, high, low, close) moves `factor` times as far from
that anchor close as the real one did, so returns, gaps and ranges all scale by `factor` and the
path stays continuous and ordered (high >= open, close >= low). It is how a replay sees a volatility
regime shift on the real sample path (`bench/intervals.py --shift`, `tests/stages/test_regime_shift.py`).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from stockpredictor.sources.base import PriceSource


class ScaledMovesSource:
    """`source` with log price moves from `first_day` on multiplied by `factor`."""

    def __init__(self, source: PriceSource, first_day: date, factor: float) -> None:
        self._source, self._first_day, self._factor = source, pd.Timestamp(first_day), factor
        self.name = source.name

    def fetch(self, ticker: str, after: date | None, as_of: date) -> pd.DataFrame:
        """The scaled rows with after < date <= as_of (the anchor is read from the full history)."""
        frame = self._source.fetch(ticker, None, as_of).copy()
        before = frame[frame["date"] < self._first_day]
        shifted = frame["date"] >= self._first_day
        if not before.empty and shifted.any():
            anchor = float(np.log(before["close"].iloc[-1]))
            for column in ("open", "high", "low", "close"):
                logs = np.log(frame.loc[shifted, column].to_numpy(dtype=np.float64))
                frame.loc[shifted, column] = np.exp(anchor + self._factor * (logs - anchor))
        if after is not None:
            frame = frame[frame["date"] > pd.Timestamp(after)].reset_index(drop=True)
        return frame

    def default_as_of(self) -> date:
        """The wrapped source's."""
        return self._source.default_as_of()
