"""What every price source returns and the windowing they share (their errors: `SourceError`)."""

from __future__ import annotations

from datetime import date
from typing import Protocol

import pandas as pd

from stockpredictor.errors import SourceError

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
FRAME_COLUMNS = ("date", *PRICE_COLUMNS)


class PriceSource(Protocol):
    """A provider of daily, split-adjusted OHLCV rows per ticker."""

    name: str

    def fetch(self, ticker: str, after: date | None, as_of: date) -> pd.DataFrame:
        """Daily split-adjusted OHLCV rows with after < date <= as_of (after=None: from the beginning).

        Columns FRAME_COLUMNS: date (datetime64[ns], naive midnight), then float64 prices and volume;
        sorted by date, as the source gave them: a missing value, an impossible price or a repeated
        date is left for `sources.validation.check_prices` to refuse and report. Empty is fine when
        `after` is given (nothing newer); when `after` is None an empty result raises SourceError.
        """
        ...

    def default_as_of(self) -> date:
        """The as_of used when none is given."""
        ...


def empty_prices() -> pd.DataFrame:
    """A frame with the contract's columns and dtypes and no rows."""
    columns = {column: pd.Series([], dtype="float64") for column in PRICE_COLUMNS}
    return pd.DataFrame({"date": pd.Series([], dtype="datetime64[ns]"), **columns})


def select_window(frame: pd.DataFrame, ticker: str, after: date | None, as_of: date) -> pd.DataFrame:
    """Normalise `frame` (a date column + PRICE_COLUMNS) to the contract and keep after < date <= as_of.

    Rows are not judged here (see `sources.validation`): a bad row reaches ingest, which reports it."""
    out = pd.DataFrame({"date": pd.to_datetime(frame["date"]).dt.normalize().astype("datetime64[ns]")})
    for column in PRICE_COLUMNS:
        out[column] = frame[column].to_numpy(dtype="float64")
    keep = out["date"] <= pd.Timestamp(as_of)
    if after is not None:
        keep &= out["date"] > pd.Timestamp(after)
    out = out[keep].sort_values("date", kind="stable").reset_index(drop=True)
    if out.empty and after is None:
        raise SourceError(f"{ticker}: no price data up to {as_of}")
    return out
