"""Prices checked where they enter: rows no market can print are refused, each named with its reason.

`check_prices` takes a fetched frame (FRAME_COLUMNS, any source) and splits it into the rows to store
and the refused ones. A row is refused when a value is missing or not finite, a price is <= 0, the
high is below the low, the open or the close lies outside [low, high], the volume is negative, or its
date occurs more than once (every copy: nothing says which one is right). Left in, such a row would
become a non-finite log return and silently an absent cell of every dataset built on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from stockpredictor.sources.base import PRICE_COLUMNS

#: Relative slack for open/close against [low, high]: adjusted prices are products of floats.
_RANGE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RefusedRow:
    """A fetched row that was not stored, and why."""

    ticker: str
    day: date
    reason: str

    def __str__(self) -> str:
        return f"{self.ticker} {self.day}: {self.reason}"


@dataclass(frozen=True)
class CheckedPrices:
    """The rows to store (sorted by date, unique dates) and the refused rows."""

    kept: pd.DataFrame
    refused: tuple[RefusedRow, ...]


def check_prices(ticker: str, frame: pd.DataFrame) -> CheckedPrices:
    """Split `frame` into storable rows and refused rows (see the module's rules)."""
    values = np.column_stack([frame[c].to_numpy(dtype=np.float64) for c in PRICE_COLUMNS])
    days = frame["date"].to_numpy(dtype="datetime64[ns]")
    in_order = bool((days[1:] > days[:-1]).all())  # then no day repeats and nothing needs sorting
    o, h, low, c, volume = values.T
    slack = _RANGE_TOLERANCE * np.abs(h)
    with np.errstate(invalid="ignore"):
        rules = (
            (~np.isfinite(values).all(axis=1), "missing or non-finite value"),
            ((values[:, :4] <= 0).any(axis=1), "price <= 0"),
            (h < low, "high below low"),
            ((h >= low) & ((c > h + slack) | (c < low - slack)), "close outside [low, high]"),
            ((h >= low) & ((o > h + slack) | (o < low - slack)), "open outside [low, high]"),
            (volume < 0, "negative volume"),
            (np.zeros(len(days), dtype=bool) if in_order else _repeated(days), "duplicate date"),
        )
    broken = np.array([mask for mask, _ in rules], dtype=bool).reshape(len(rules), len(frame))
    bad = broken.any(axis=0)
    names = [reason for _, reason in rules]
    refused = tuple(
        RefusedRow(
            ticker,
            pd.Timestamp(days[i]).date(),
            ", ".join(n for n, hit in zip(names, broken[:, i], strict=True) if hit),
        )
        for i in np.flatnonzero(bad)
    )
    kept = frame.iloc[np.flatnonzero(~bad)] if bad.any() else frame
    if not in_order:
        kept = kept.sort_values("date", kind="stable")
    return CheckedPrices(kept.reset_index(drop=True), refused)


def _repeated(days: np.ndarray) -> np.ndarray:
    """Whether each day occurs more than once (every copy marked)."""
    _, inverse, counts = np.unique(days, return_inverse=True, return_counts=True)
    return np.asarray(counts[inverse] > 1, dtype=bool)
