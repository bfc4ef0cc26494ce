"""What every stage needs: the as-of date, a migrated engine, and the context the faces hand over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

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
