"""Raw prices on real SQLite and real PostgreSQL: idempotent inserts, latest dates, as_of bounds."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from stockpredictor.db.prices import insert_prices, latest_dates, load_price_rows, load_prices
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
