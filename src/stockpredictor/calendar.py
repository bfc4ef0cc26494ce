"""NYSE trading days (exchange-calendars XNYS): 'next day' and 'yesterday' never mean date +/- 1."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

_FIRST_SESSION = "1990-01-02"


@cache
def _xnys() -> xcals.ExchangeCalendar:
    return xcals.get_calendar("XNYS", start=_FIRST_SESSION)


def is_trading_day(day: date) -> bool:
    """True when the NYSE is open on `day`."""
    return bool(_xnys().is_session(pd.Timestamp(day)))


def next_trading_day(day: date) -> date:
    """The first trading day strictly after `day` (a Friday gives Monday, holidays are skipped)."""
    return _xnys().date_to_session(pd.Timestamp(day) + pd.Timedelta(days=1), direction="next").date()


def previous_trading_day(day: date) -> date:
    """The last trading day strictly before `day`."""
    return _xnys().date_to_session(pd.Timestamp(day) - pd.Timedelta(days=1), direction="previous").date()


def trading_days(start: date, end: date) -> list[date]:
    """Trading days with start <= day <= end."""
    if end < start:
        return []
    return [ts.date() for ts in _xnys().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def trading_days_after(day: date, until: date) -> int:
    """How many trading days lie in (day, until]."""
    return len([d for d in trading_days(day, until) if d > day])


def last_trading_day(day: date) -> date:
    """The last trading day on or before `day` (the session data "as of `day`" ends on)."""
    return _xnys().date_to_session(pd.Timestamp(day), direction="previous").date()


def next_trading_days(days: Sequence[date]) -> list[date]:
    """`next_trading_day` of every day in `days`, in one calendar lookup."""
    if not len(days):
        return []
    stamps = pd.DatetimeIndex([pd.Timestamp(d) for d in days])
    sessions = _xnys().sessions_in_range(
        stamps.min(), _xnys().date_to_session(stamps.max() + pd.Timedelta(days=1), direction="next")
    )
    following = sessions[np.searchsorted(sessions.to_numpy(), stamps.normalize().to_numpy(), side="right")]
    return [ts.date() for ts in following]


def latest_completed_session(now: datetime | None = None) -> date:
    """The newest trading day whose close has passed at `now` (an aware datetime; default: the clock)."""
    moment = pd.Timestamp(now or datetime.now(UTC)).tz_convert(UTC)
    calendar = _xnys()
    today = moment.tz_convert(calendar.tz).date()
    session = calendar.date_to_session(pd.Timestamp(today), direction="previous")
    if calendar.session_close(session) > moment:
        session = calendar.previous_session(session)
    return session.date()
