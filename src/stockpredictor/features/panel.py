"""Per-ticker features on the exchange calendar: a (sessions, stocks, features) panel with targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from stockpredictor.calendar import last_trading_day, trading_days
from stockpredictor.errors import MissingDataError
from stockpredictor.features.indicators import PriceRows, indicator_values


@dataclass(frozen=True)
class Panel:
    """Features of every stock on every exchange session from the first to the last day any stock has.

    A stock without a row (with complete features) on a session is absent there: its features, close
    and target are NaN; nothing is filled in. `targets[t]` is what the model predicts from the window
    ending on session t: the next session's log return (or close), NaN unless the stock is present on
    both sessions (and on the last session, whose next one is not known yet).
    """

    dates: np.ndarray  # (days,) datetime64[D], consecutive exchange sessions
    tickers: tuple[str, ...]
    feature_columns: tuple[str, ...]
    features: np.ndarray  # (days, stocks, features) float32, NaN where absent
    close: np.ndarray  # (days, stocks) float64, adjusted close of each day, NaN where absent
    targets: np.ndarray  # (days, stocks) float32

    @property
    def present(self) -> np.ndarray:
        """(days, stocks) bool: the stock has a row on the session (old stored panels: everywhere)."""
        return np.isfinite(self.close)


def build_panel(
    prices: Mapping[str, pd.DataFrame] | PriceRows,
    indicators: tuple[str, ...],
    target: str = "log_return",
    until: date | None = None,
) -> Panel:
    """Compute indicators per ticker and place them on the exchange calendar.

    `prices`: date-indexed OHLCV frames by ticker, or the same rows already laid side by side. Each
    ticker's indicators are computed on its own rows (all tickers in one vectorised pass); rows on
    days that are not sessions are dropped. The calendar runs from the first session any ticker has
    complete features on to the last session any ticker has a row on, or to the last session <=
    `until` when given (serving: the stocks without a row there are absent on it).
    """
    rows = prices if isinstance(prices, PriceRows) else PriceRows.from_frames(prices) if prices else None
    if rows is None or not rows.tickers:
        raise ValueError("no tickers to build a panel from")
    values, keep = indicator_values(rows, indicators)
    if not keep.any():
        raise MissingDataError(f"no day with complete features for any of the tickers {list(rows.tickers)}")
    kept_dates = rows.dates[keep]
    first = pd.Timestamp(kept_dates.min()).date()
    last = last_trading_day(until) if until is not None else pd.Timestamp(kept_dates.max()).date()
    sessions = pd.DatetimeIndex(pd.to_datetime(trading_days(first, last)), name="date")
    if len(sessions) == 0:
        raise MissingDataError(
            f"tickers {list(rows.tickers)} have no session with complete features up to {last}"
        )
    row, stock = np.nonzero(keep)
    day = sessions.searchsorted(rows.dates[row, stock])
    on_session = day < len(sessions)
    on_session[on_session] = sessions[day[on_session]] == rows.dates[row[on_session], stock[on_session]]
    row, stock, day = row[on_session], stock[on_session], day[on_session]
    features = np.full((len(sessions), len(rows.tickers), len(indicators)), np.nan, dtype=np.float32)
    features[day, stock] = values[row, stock]
    close = np.full((len(sessions), len(rows.tickers)), np.nan)
    close[day, stock] = rows.columns["close"][row, stock]
    return Panel(
        dates=sessions.to_numpy().astype("datetime64[D]"),
        tickers=rows.tickers,
        feature_columns=tuple(indicators),
        features=features,
        close=close,
        targets=next_day_targets(close, target),
    )


def next_day_targets(close: np.ndarray, target: str) -> np.ndarray:
    """Target of session t from the close of session t+1 (one shift); NaN for the last day.

    Rows are consecutive sessions: a NaN close (an absent stock) makes both targets touching it NaN.
    """
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
