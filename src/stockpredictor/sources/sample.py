"""The offline `sample` source: daily prices bundled with bokeh-sampledata (2000-03-01..2013-03-01).

The bundle's OHLC and volume are as traded (not split-adjusted); its `adj_close` is split- and
dividend-adjusted. Prices are scaled by adj_close/close, exactly as yfinance's `auto_adjust=True`
scales Yahoo's OHLC. Volume is divided by the same factor, so it is split-adjusted like Yahoo's volume
(Yahoo serves split-adjusted volume; yfinance's auto_adjust leaves it untouched) and dollar volume is
preserved.
"""

from __future__ import annotations

from datetime import date
from functools import cache

import pandas as pd

from stockpredictor.errors import UnknownTickerError
from stockpredictor.sources.base import select_window

SAMPLE_TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")
"""The tickers with the full 2000-2013 history (GOOG from its 2004-08-19 listing); FB is also served."""


@cache
def _adjusted_prices() -> dict[str, pd.DataFrame]:
    """Split-adjusted frames per ticker, read from the bundle once per process."""
    from bokeh_sampledata import stocks

    raw = stocks.data
    factor = raw["adj_close"] / raw["close"]
    adjusted = pd.DataFrame(
        {
            "date": raw["date"].astype("datetime64[ns]"),
            **{column: raw[column] * factor for column in ("open", "high", "low", "close")},
            "volume": raw["volume"] / factor,
        }
    )
    return {str(ticker): rows.reset_index(drop=True) for ticker, rows in adjusted.groupby(raw["ticker"])}


class SampleSource:
    """Split-adjusted daily prices from the bundled public-domain sample (no network)."""

    name = "sample"

    def fetch(self, ticker: str, after: date | None, as_of: date) -> pd.DataFrame:
        """Rows with after < date <= as_of; an unknown ticker raises UnknownTickerError."""
        prices = _adjusted_prices()
        if ticker not in prices:
            raise UnknownTickerError(
                f"{ticker}: not in the sample data (available: {', '.join(sorted(prices))})"
            )
        return select_window(prices[ticker], ticker, after, as_of)

    def default_as_of(self) -> date:
        """The last day of the sample, so that runs without --as-of work offline."""
        return pd.Timestamp(max(frame["date"].max() for frame in _adjusted_prices().values())).date()
