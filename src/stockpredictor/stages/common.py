"""What every stage needs: the as-of date, a migrated engine, and the context the faces hand over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

from sqlalchemy import Engine

from stockpredictor.calendar import is_trading_day, latest_completed_session, previous_trading_day
from stockpredictor.config import Params, Settings
from stockpredictor.db.engine import engine_for
from stockpredictor.errors import UsageError
from stockpredictor.sources import get_source


def resolve_as_of(as_of: date | None, params: Params) -> date:
    """`as_of` (checked by `check_as_of`) or, when not given, the source's default (Yahoo: the latest
    completed NYSE session)."""
    if as_of is None:
        return get_source(params.data.source).default_as_of()
    return check_as_of(as_of, params)


def check_as_of(as_of: date, params: Params) -> date:
    """`as_of` if it is an NYSE session whose close has passed, not before `data.start`.

    A later day, a weekend or a holiday is refused with the session to use instead; a day before
    `data.start` with the key that sets it. Nothing is opened: the faces check before the store.
    """
    if as_of < params.data.start:
        raise UsageError(
            f"as_of {as_of} is before data.start ({params.data.start}): no data is used before that day"
        )
    latest = latest_completed_session()
    if as_of > latest:
        raise UsageError(
            f"as_of {as_of} is after the latest completed NYSE session, {latest} "
            "(a session counts once the exchange has closed)"
        )
    if not is_trading_day(as_of):
        raise UsageError(
            f"as_of {as_of} is not an NYSE session (a {'weekend' if as_of.weekday() >= 5 else 'holiday'}); "
            f"the session before it is {previous_trading_day(as_of)}"
        )
    return as_of


def store_engine(settings: Settings | None = None) -> Engine:
    """The migrated engine of the configured store."""
    return engine_for((settings or Settings.from_env()).database_url)


@dataclass(frozen=True)
class RuntimeContext:
    """What the CLI and the KFP components pass to the stages: params, settings and, on first use, the store.

    `params` is the params file with its overrides, `settings` the connection settings from the
    environment; `engine` is the migrated store of `settings`.
    """

    params: Params
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return store_engine(self.settings)
