"""What every stage needs: the as-of date and a migrated engine."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from stockpredictor.config import Params, Settings
from stockpredictor.db.engine import engine_for
from stockpredictor.sources import get_source


def resolve_as_of(as_of: date | None, params: Params) -> date:
    """`as_of` or, when not given, the configured source's default (today for Yahoo)."""
    return as_of if as_of is not None else get_source(params.data.source).default_as_of()


def store_engine(settings: Settings | None = None) -> Engine:
    """The migrated engine of the configured store."""
    return engine_for((settings or Settings.from_env()).database_url)
