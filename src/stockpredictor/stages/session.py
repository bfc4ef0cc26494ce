"""Stage `session`: does the daily pipeline have a new session to process, or has it done this one?

A scheduled daily run leaves as_of empty: it resolves to the latest completed NYSE session, so a run
on a weekend or a holiday (or a second run on the same evening) lands on a session the daily pipeline
has already predicted from. It then has nothing new to do and must change nothing: `no new session`.
A run given an explicit as_of always goes ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, func, select

from stockpredictor.config import Params
from stockpredictor.db.schema import latest_predictions
from stockpredictor.stages.common import resolve_as_of

NEW_SESSION = "new session"
NO_NEW_SESSION = "no new session"


@dataclass(frozen=True)
class SessionStatus:
    """The session a daily run stands on, and whether it is new (`status`) and why."""

    as_of: date
    status: str
    reason: str


def session(engine: Engine, params: Params, as_of: date | None = None) -> SessionStatus:
    """`new session` unless as_of is empty and the daily pipeline already predicted from its session."""
    day = resolve_as_of(as_of, params)
    if as_of is not None:
        return SessionStatus(day, NEW_SESSION, f"as_of {day} was given: the daily run goes ahead")
    with engine.connect() as conn:
        newest = conn.execute(
            select(func.max(latest_predictions.c.as_of_date)).where(latest_predictions.c.kind == "daily")
        ).scalar()
    if newest is not None and newest >= day:
        return SessionStatus(
            day,
            NO_NEW_SESSION,
            f"the latest completed session, {day}, was already predicted from (newest daily prediction "
            f"as of {newest}); nothing to do until the next session closes",
        )
    return SessionStatus(day, NEW_SESSION, f"session {day} has not been predicted from yet")
