"""Raw prices on real SQLite and real PostgreSQL: idempotent inserts, latest dates, as_of bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from stockpredictor.db.prices import insert_prices, latest_dates, load_price_rows, load_prices
from stockpredictor.db.schema import raw_stock_data
from stockpredictor.features.indicators import PriceRows


def prices_frame(days: int, start: str = "2020-01-02") -> pd.DataFrame:
    dates = pd.bdate_range(start, periods=days)
    base = np.linspace(10, 20, days)
    return pd.DataFrame(
        {
            "date": dates,
            "open": base,
            "high": base + 1,
            "low": base - 1,
            "close": base + 0.5,
            "volume": np.full(days, 1e6),
        }
    )


def test_prices_insert_is_idempotent(engine: Engine) -> None:
    frame = prices_frame(10)
    with engine.begin() as conn:
        assert insert_prices(conn, {"AAA": frame, "CCC": frame.iloc[:3]}, "sample") == {"AAA": 10, "CCC": 3}
    with engine.begin() as conn:
        assert insert_prices(conn, {"AAA": frame}, "sample") == {"AAA": 0}
        assert insert_prices(conn, {"AAA": prices_frame(12), "CCC": frame}, "sample") == {"AAA": 2, "CCC": 7}
    with engine.connect() as conn:
        assert latest_dates(conn, ["AAA", "BBB"]) == {"AAA": date(2020, 1, 17), "BBB": None}
        loaded = load_prices(conn, ["AAA", "BBB"], as_of=date(2020, 1, 10))
    assert len(loaded["AAA"]) == 7 and loaded["BBB"].empty
    assert loaded["AAA"].index.max() == pd.Timestamp("2020-01-10")
    np.testing.assert_array_equal(loaded["AAA"]["close"].to_numpy(), frame["close"].to_numpy()[:7])


def test_price_rows_side_by_side_equal_the_frames_per_ticker(engine: Engine) -> None:
    frame = prices_frame(10)
    with engine.begin() as conn:
        insert_prices(conn, {"AAA": frame, "CCC": prices_frame(4, start="2020-01-08")}, "sample")
    with engine.connect() as conn:
        rows = load_price_rows(conn, ["CCC", "BBB", "AAA"], as_of=date(2020, 1, 14), start=date(2020, 1, 3))
        frames = load_prices(conn, ["CCC", "BBB", "AAA"], as_of=date(2020, 1, 14), start=date(2020, 1, 3))
    assert rows.tickers == ("CCC", "BBB", "AAA") and list(rows.lengths) == [4, 0, 8]
    np.testing.assert_array_equal(rows.columns["close"][:, 2], frame["close"].to_numpy()[1:9])
    np.testing.assert_array_equal(rows.dates[:8, 2], frame["date"].to_numpy()[1:9].astype("datetime64[ns]"))
    expected = PriceRows.from_frames(frames)
    np.testing.assert_array_equal(rows.dates, expected.dates)
    for column, values in expected.columns.items():
        np.testing.assert_array_equal(rows.columns[column], values)


def test_new_days_of_tickers_of_any_length_are_stored_with_their_source_and_time(engine: Engine) -> None:
    before = datetime.now(UTC)
    with engine.begin() as conn:  # an append (COPY straight into the table on PostgreSQL)
        assert insert_prices(
            conn, {"BRK.B": prices_frame(3), "X": prices_frame(2), "ÉTÉ": prices_frame(1)}, "yahoo"
        ) == {
            "BRK.B": 3,
            "X": 2,
            "ÉTÉ": 1,
        }
    with engine.begin() as conn:  # two days of X before its stored ones: stored through the key check
        assert insert_prices(
            conn, {"X": prices_frame(4, start="2019-12-31"), "BRK.B": prices_frame(4)}, "sample"
        ) == {
            "X": 2,
            "BRK.B": 1,
        }
    with engine.connect() as conn:
        rows = conn.execute(
            select(raw_stock_data.c.ticker, raw_stock_data.c.source, raw_stock_data.c.ingested_at)
        ).all()
        loaded = load_prices(conn, ["BRK.B", "X", "ÉTÉ"], as_of=date(2020, 1, 31))
    assert sorted((r.ticker, r.source) for r in rows) == sorted(
        [("BRK.B", "yahoo")] * 3
        + [("BRK.B", "sample")]
        + [("X", "yahoo")] * 2
        + [("X", "sample")] * 2
        + [("ÉTÉ", "yahoo")]
    )
    stamps = [r.ingested_at if r.ingested_at.tzinfo else r.ingested_at.replace(tzinfo=UTC) for r in rows]
    assert all(before - timedelta(seconds=1) <= s <= datetime.now(UTC) for s in stamps)
    assert [len(f) for f in loaded.values()] == [4, 4, 1]
    kept_then_new = [*prices_frame(3)["close"], prices_frame(4)["close"].iloc[3]]  # stored days are kept
    np.testing.assert_array_equal(loaded["BRK.B"]["close"].to_numpy(), kept_then_new)
