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


def load_price_rows(
    conn: Connection, tickers: Iterable[str], as_of: date, start: date | None = None
) -> PriceRows:
    """The OHLCV rows of `tickers` with start <= date <= as_of, laid side by side (`PriceRows`)."""
    wanted = list(tickers)
    return PriceRows.from_long(_price_records(conn, wanted, as_of, start), wanted)


def load_prices(
    conn: Connection, tickers: Iterable[str], as_of: date, start: date | None = None
) -> dict[str, pd.DataFrame]:
    """Date-indexed OHLCV frames per ticker with start <= date <= as_of (empty frames included)."""
    wanted = list(tickers)
    frame = _price_records(conn, wanted, as_of, start).sort_values(["ticker", "date"], kind="stable")
    tickers_sorted = frame["ticker"].to_numpy()
    frame = frame.drop(columns="ticker").set_index("date")
    first = np.searchsorted(tickers_sorted, wanted, "left")
    last = np.searchsorted(tickers_sorted, wanted, "right")
    return {ticker: frame.iloc[a:b] for ticker, a, b in zip(wanted, first, last, strict=True)}


def _price_records(conn: Connection, tickers: list[str], as_of: date, start: date | None) -> pd.DataFrame:
    """One row per stored (ticker, day) in the window, in no particular order: columns ticker, date
    (datetime64) and PRICE_COLUMNS. PostgreSQL: a binary COPY read with numpy, tickers sent as codes."""
    if conn.dialect.name != "postgresql":
        r = raw_stock_data
        query = select(r.c.ticker, r.c.date, *(r.c[c] for c in PRICE_COLUMNS)).where(
            r.c.ticker.in_(tickers), r.c.date <= as_of, *([r.c.date >= start] if start is not None else [])
        )
        frame = pd.DataFrame.from_records(
            [tuple(row) for row in conn.execute(query)], columns=["ticker", "date", *PRICE_COLUMNS]
        )
        frame["date"] = pd.to_datetime(frame["date"])
        return frame.astype({"ticker": object, **dict.fromkeys(PRICE_COLUMNS, np.float64)})
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        query = cursor.mogrify(
            f"SELECT array_position(%(tickers)s::text[], ticker::text), date, {', '.join(PRICE_COLUMNS)} "
            "FROM raw_stock_data WHERE ticker = ANY(%(tickers)s) AND date <= %(as_of)s"
            + (" AND date >= %(start)s" if start is not None else ""),
            {"tickers": tickers, "as_of": as_of, "start": start},
        ).decode()
        buffer = io.BytesIO()
        cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", buffer)
    finally:
        cursor.close()
    records = _parse_binary_copy(buffer.getbuffer())
    codes = records["code"].astype(np.int64) - 1
    frame = pd.DataFrame(
        {
            "ticker": np.array(tickers, dtype=object)[codes],
            "date": (PG_EPOCH + records["date"].astype("timedelta64[D]")).astype("datetime64[ns]"),
            **{column: records[column].astype(np.float64) for column in PRICE_COLUMNS},
        }
    )
    return frame


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
