"""Stage `ingest`: fetch only rows newer than the latest stored date per ticker, check and store them.

Every fetched row passes `sources.validation.check_prices`: an impossible row (a price <= 0, a high
below the low, a negative volume, a missing value, a repeated date...) is refused, logged and
reported with its ticker, date and reason, and the others are stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
from sqlalchemy import Engine

from stockpredictor.config import Params
from stockpredictor.db.engine import write_transaction
from stockpredictor.db.prices import insert_prices, latest_dates
from stockpredictor.errors import SourceError
from stockpredictor.sources import PriceSource, get_source
from stockpredictor.sources.validation import RefusedRow, check_prices
from stockpredictor.stages.common import resolve_as_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """Rows added per ticker, the tickers that failed with why, and the rows refused at the door."""

    as_of: date
    added: dict[str, int]
    errors: dict[str, str] = field(default_factory=dict)
    refused: tuple[RefusedRow, ...] = ()
    new_days: dict[str, tuple[date, date]] = field(default_factory=dict)  # first and last day fetched

    @property
    def total_added(self) -> int:
        return sum(self.added.values())

    def failure_message(self) -> str:
        """One line on the failed tickers (the first one's cause) that says truthfully what the others got."""
        first, *others = self.errors
        cause = self.errors[first] + (f" (also failed: {', '.join(others)})" if others else "")
        if not self.added:
            return f"ingest stored nothing: every ticker failed; {cause}"
        return (
            f"ingest failed for {', '.join(self.errors)}: {cause}; "
            f"{', '.join(self.added)} got {self.total_added} new row(s) up to {self.as_of}"
        )


#: Refused rows named one by one in the log per ticker; the others are counted.
LOGGED_REFUSALS = 10
#: Rows fetched before they are written in one bulk transaction (bounds memory for large universes).
BATCH_ROWS = 250_000


def ingest(
    engine: Engine, params: Params, as_of: date | None = None, source: PriceSource | None = None
) -> IngestResult:
    """Fetch and store new rows for every configured ticker; a failing ticker does not stop the others."""
    as_of = resolve_as_of(as_of, params)
    source = source or get_source(params.data.source)
    with engine.connect() as conn:
        latest = latest_dates(conn, params.data.tickers)
    added: dict[str, int] = {
        ticker: 0 for ticker, last in latest.items() if last is not None and last >= as_of
    }
    errors: dict[str, str] = {}
    refused: list[RefusedRow] = []
    new_days: dict[str, tuple[date, date]] = {}
    pending: dict[str, pd.DataFrame] = {}
    for ticker, last in latest.items():
        if ticker in added:
            continue
        try:
            frame = source.fetch(ticker, last, as_of)
        except SourceError as exc:
            log.error("ingest %s failed: %s", ticker, exc)
            errors[ticker] = str(exc)
            continue
        if last is None:
            frame = frame[frame["date"] >= pd.Timestamp(params.data.start)]
            if frame.empty:
                errors[ticker] = f"no data for {ticker} between {params.data.start} and {as_of}"
                continue
        pending[ticker] = _checked(ticker, frame, refused, new_days)
        if last is None and pending[ticker].empty:
            errors[ticker] = f"{ticker}: every fetched row was refused (see the refused rows)"
            del pending[ticker]
        if sum(map(len, pending.values())) >= BATCH_ROWS:
            added |= _store(engine, pending, source.name)
            pending = {}
    added |= _store(engine, pending, source.name)
    log.info(
        "ingest up to %s: %d new rows for %d tickers, %d refused",
        as_of,
        sum(added.values()),
        len(added),
        len(refused),
    )
    return IngestResult(
        as_of=as_of,
        added={t: added[t] for t in latest if t in added},
        errors=errors,
        refused=tuple(refused),
        new_days=new_days,
    )


def _checked(
    ticker: str, frame: pd.DataFrame, refused: list[RefusedRow], new_days: dict[str, tuple[date, date]]
) -> pd.DataFrame:
    """The rows of `frame` fit to store; the refused ones are logged and appended to `refused`."""
    checked = check_prices(ticker, frame)
    if checked.refused:
        shown = "; ".join(str(row) for row in checked.refused[:LOGGED_REFUSALS])
        more = len(checked.refused) - LOGGED_REFUSALS
        log.warning(
            "ingest refused %d row(s) of %s: %s%s",
            len(checked.refused),
            ticker,
            shown,
            f"; and {more} more" if more > 0 else "",
        )
    refused += checked.refused
    if not checked.kept.empty:
        days = checked.kept["date"]
        new_days[ticker] = (days.iloc[0].date(), days.iloc[-1].date())
    return checked.kept


def _store(engine: Engine, frames: dict[str, pd.DataFrame], source: str) -> dict[str, int]:
    with write_transaction(engine) as conn:
        return insert_prices(conn, frames, source)
