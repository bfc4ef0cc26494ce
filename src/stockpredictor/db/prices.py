"""Raw daily prices (`raw_stock_data`)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from stockpredictor.calendar import previous_trading_day
from stockpredictor.db.bulk import PG_EPOCH, copy_missing
from stockpredictor.db.schema import raw_stock_data
from stockpredictor.features.indicators import PRICE_COLUMNS, PriceRows


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
    if not frames:
        return {}
    rows = pd.DataFrame(
        {
            "ticker": np.repeat(np.array(list(frames), dtype=object), [len(f) for f in frames.values()]),
            "date": np.concatenate(
                [pd.to_datetime(f["date"]).to_numpy(dtype="datetime64[ns]") for f in frames.values()]
            ),
            **{
                c: np.concatenate([f[c].to_numpy(dtype=np.float64) for f in frames.values()])
                for c in PRICE_COLUMNS
            },
        }
    )
    constants = {"source": source, "ingested_at": datetime.now(UTC)}
    added = copy_missing(
        conn, raw_stock_data, rows, key=("ticker", "date"), constants=constants, count_by="ticker"
    )
    return {ticker: added.get(ticker, 0) for ticker in frames}


def load_price_rows(
    conn: Connection, tickers: Iterable[str], as_of: date, start: date | None = None
) -> PriceRows:
    """The OHLCV rows of `tickers` with start <= date <= as_of, laid side by side (`PriceRows`).

    PostgreSQL: one binary COPY (tickers as their index in `tickers`) read with numpy, no text parsed.
    """
    wanted = list(tickers)
    if conn.dialect.name != "postgresql":
        r = raw_stock_data
        query = select(r.c.ticker, r.c.date, *(r.c[c] for c in PRICE_COLUMNS)).where(
            r.c.ticker.in_(wanted), r.c.date <= as_of, *([r.c.date >= start] if start is not None else [])
        )
        frame = pd.DataFrame.from_records(
            [tuple(row) for row in conn.execute(query)], columns=["ticker", "date", *PRICE_COLUMNS]
        )
        return PriceRows.from_long(frame, wanted)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        values = ", ".join(f"r.{c}" for c in PRICE_COLUMNS)
        query = cursor.mogrify(
            f"SELECT w.code::integer, r.date, {values} FROM raw_stock_data r "
            "JOIN unnest(%(tickers)s::text[]) WITH ORDINALITY AS w(ticker, code) ON r.ticker = w.ticker "
            "WHERE r.date <= %(as_of)s" + (" AND r.date >= %(start)s" if start is not None else ""),
            {"tickers": wanted, "as_of": as_of, "start": start},
        ).decode()
        buffer = io.BytesIO()
        cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", buffer)
    finally:
        cursor.close()
    records = _parse_binary_copy(buffer.getbuffer())
    dates = PG_EPOCH + records["date"].astype("timedelta64[D]")
    return PriceRows.from_codes(wanted, records["code"] - 1, dates, {c: records[c] for c in PRICE_COLUMNS})


def load_prices(
    conn: Connection, tickers: Iterable[str], as_of: date, start: date | None = None
) -> dict[str, pd.DataFrame]:
    """Date-indexed OHLCV frames per ticker with start <= date <= as_of (empty frames included)."""
    rows = load_price_rows(conn, tickers, as_of, start)
    return {ticker: rows.ticker_frame(j) for j, ticker in enumerate(rows.tickers)}


_RECORD = np.dtype(
    [("fields", ">i2"), ("code_length", ">i4"), ("code", ">i4"), ("date_length", ">i4"), ("date", ">i4")]
    + [item for column in PRICE_COLUMNS for item in ((f"{column}_length", ">i4"), (column, ">f8"))]
)


def _parse_binary_copy(payload: memoryview) -> np.ndarray:
    """The records of a binary COPY of (int4 code, date, 5 float8), none NULL."""
    header = 11 + 4 + 4 + int.from_bytes(payload[15:19], "big")
    count = (len(payload) - header - 2) // _RECORD.itemsize
    records = np.frombuffer(payload, dtype=_RECORD, count=count, offset=header)
    if count and not (records["fields"] == 2 + len(PRICE_COLUMNS)).all():
        raise ValueError("unexpected layout of a binary COPY of raw_stock_data")
    return records


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
