"""ingest on the sample data, on real SQLite and PostgreSQL: idempotent, errors per ticker, concurrent."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, func, select

from stockpredictor.calendar import trading_days
from stockpredictor.db.engine import make_engine
from stockpredictor.db.prices import load_prices
from stockpredictor.db.schema import raw_stock_data
from stockpredictor.stages.ingest import ingest
from tests.support.cli import command
from tests.support.overrides import TWO_TICKERS, repo_params, tickers

AS_OF = date(2006, 6, 30)
PARAMS = repo_params(*TWO_TICKERS)


def test_ingest_twice_adds_nothing_the_second_time(engine: Engine) -> None:
    first = ingest(engine, PARAMS, AS_OF)
    assert not first.errors and all(n > 300 for n in first.added.values())
    assert ingest(engine, PARAMS, AS_OF).added == {"AAPL": 0, "IBM": 0}
    later = ingest(engine, PARAMS, date(2006, 7, 7))
    assert later.added == {"AAPL": 4, "IBM": 4}  # only the new days (July 4th is a holiday)


def test_unknown_ticker_fails_alone(engine: Engine) -> None:
    result = ingest(engine, repo_params(*TWO_TICKERS, tickers("AAPL", "ZZZZ")), AS_OF)
    assert "ZZZZ" in result.errors and "ZZZZ" in result.errors["ZZZZ"]
    assert result.added["AAPL"] > 0


def test_sample_prices_are_split_adjusted(engine: Engine) -> None:
    ingest(engine, PARAMS, AS_OF)
    with engine.connect() as conn:
        aapl = load_prices(conn, ["AAPL"], AS_OF)["AAPL"]["close"]
    overnight = aapl.pct_change().loc["2005-02-28"]
    assert abs(overnight) < 0.2  # the 2:1 split on 2005-02-28 is not a 50% drop


def test_concurrent_ingest_neither_duplicates_nor_fails(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "STOCKPREDICTOR_DATABASE_URL": db_url, "STOCKPREDICTOR_DATA_DIR": str(tmp_path)}
    ingest_command = [
        *command(tickers("AAPL", "IBM", "MSFT"), "data.start=2004-01-01"),
        "ingest",
        "--as-of",
        "2008-12-31",
    ]
    procs = [
        subprocess.Popen(ingest_command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    added = [int(out.strip().splitlines()[-1]) for out, _ in outputs]

    engine = make_engine(db_url)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(raw_stock_data)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(raw_stock_data.c.ticker, raw_stock_data.c.date).distinct().subquery()
            )
        ).scalar_one()
    engine.dispose()
    assert stored == distinct == sum(added) == 3 * len(trading_days(date(2004, 1, 1), date(2008, 12, 31)))
