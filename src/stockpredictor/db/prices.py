"""Raw daily prices (`raw_stock_data`)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select, func, select

from stockpredictor.calendar import previous_trading_day
from stockpredictor.db.bulk import copy_missing
from stockpredictor.db.schema import raw_stock_data

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


def latest_dates(conn: Connection, tickers: Iterable[str]) -> dict[str, date | None]:
    """The newest stored date per ticker (None where the ticker has no rows)."""
    wanted = list(tickers)
    rows = conn.execute(
        select(raw_stock_data.c.ticker, func.max(raw_stock_data.c.date))
        .where(raw_stock_data.c.ticker.in_(wanted))
        .group_by(raw_stock_data.c.ticker)
    ).all()
    found = {ticker: day for ticker, day in rows}
    return {ticker: found.get(ticker) for ticker in wanted}


def insert_prices(conn: Connection, frames: Mapping[str, pd.DataFrame], source: str) -> dict[str, int]:
    """Store OHLCV rows (columns date + PRICE_COLUMNS) of several tickers; existing days are kept.

    Returns the rows inserted per ticker. All tickers go through one bulk write.
    """
    parts = []
    for ticker, frame in frames.items():
        part = pd.DataFrame({"ticker": ticker, "date": pd.to_datetime(frame["date"]).to_numpy()})
        for column in PRICE_COLUMNS:
            part[column] = frame[column].to_numpy(dtype=np.float64)
        parts.append(part)
    if not parts:
        return {}
    rows = pd.concat(parts, ignore_index=True)
    rows["ticker"] = rows["ticker"].astype(object)
    constants = {"source": source, "ingested_at": datetime.now(UTC)}
    added = copy_missing(
        conn, raw_stock_data, rows, key=("ticker", "date"), constants=constants, count_by="ticker"
    )
    return {ticker: added.get(ticker, 0) for ticker in frames}


def load_prices(
    conn: Connection, tickers: Iterable[str], as_of: date, start: date | None = None
) -> dict[str, pd.DataFrame]:
    """Date-indexed OHLCV frames per ticker with start <= date <= as_of (empty frames included)."""
    wanted = list(tickers)
    columns = ["ticker", "date", *PRICE_COLUMNS]
    query = select(*(raw_stock_data.c[c] for c in columns)).where(
        raw_stock_data.c.ticker.in_(wanted), raw_stock_data.c.date <= as_of
    )
    if start is not None:
        query = query.where(raw_stock_data.c.date >= start)
    frame = _read_frame(conn, query.order_by(raw_stock_data.c.ticker, raw_stock_data.c.date), columns)
    frame["date"] = pd.to_datetime(frame["date"])
    by_ticker = {str(t): g.drop(columns="ticker").set_index("date") for t, g in frame.groupby("ticker")}
    empty = pd.DataFrame(
        columns=list(PRICE_COLUMNS), index=pd.DatetimeIndex([], name="date"), dtype="float64"
    )
    return {t: by_ticker.get(t, empty) for t in wanted}


def previous_session_closes(conn: Connection, keys: Iterable[tuple[str, date]]) -> np.ndarray:
    """The close of each (ticker, day)'s ticker on the exchange session before `day`; NaN where not stored."""
    wanted = [(ticker, previous_trading_day(day)) for ticker, day in keys]
    if not wanted:
        return np.empty(0)
    r = raw_stock_data
    rows = conn.execute(
        select(r.c.ticker, r.c.date, r.c.close).where(
            r.c.ticker.in_({t for t, _ in wanted}), r.c.date.in_({d for _, d in wanted})
        )
    ).all()
    found = {(ticker, day): close for ticker, day, close in rows}
    return np.array([found.get(key, np.nan) for key in wanted], dtype=np.float64)


def _read_frame(conn: Connection, query: Select[Any], columns: list[str]) -> pd.DataFrame:
    """Run `query` into a DataFrame; on PostgreSQL through COPY ... TO STDOUT (fast for millions of rows)."""
    if conn.dialect.name != "postgresql":
        return pd.DataFrame.from_records([tuple(row) for row in conn.execute(query)], columns=columns)
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    buffer = io.BytesIO()
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()
    buffer.seek(0)
    return pd.read_csv(buffer, names=columns, dtype={"ticker": str}, float_precision="round_trip")
