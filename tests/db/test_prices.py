"""Raw prices on real SQLite and real PostgreSQL: idempotent inserts, latest dates, as_of bounds."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from stockpredictor.db.prices import insert_prices, latest_dates, load_prices


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
