"""ingest on the sample data, on real SQLite and PostgreSQL: idempotent, errors per ticker, concurrent;
impossible rows refused and named (sample and Yahoo paths)."""

from __future__ import annotations

import os
import subprocess
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, select

from stockpredictor.calendar import trading_days
from stockpredictor.db.engine import make_engine
from stockpredictor.db.prices import load_prices
from stockpredictor.db.schema import raw_stock_data
from stockpredictor.orchestration.cards import ingest_card
from stockpredictor.sources.sample import SampleSource
from stockpredictor.sources.yahoo import EXCHANGE_TZ, YahooSource
from stockpredictor.stages.ingest import ingest
from tests.support.cli import command
from tests.support.fake_yahoo import Bar, FakeYahoo, yahoo_session
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


class CorruptedSample:
    """The real sample source with some rows made impossible, as a broken feed would serve them."""

    name = "sample"

    def __init__(self, broken: dict[tuple[str, date], dict[str, float]], repeated: tuple[str, date]) -> None:
        self.broken, self.repeated = broken, repeated

    def fetch(self, ticker: str, after: date | None, as_of: date) -> pd.DataFrame:
        frame = SampleSource().fetch(ticker, after, as_of)
        days = frame["date"].dt.date
        for (symbol, day), values in self.broken.items():
            if symbol == ticker:
                for column, value in values.items():
                    frame.loc[days == day, column] = value
        if self.repeated[0] == ticker:
            frame = pd.concat([frame, frame[days == self.repeated[1]]]).sort_values("date", kind="stable")
        return frame.reset_index(drop=True)

    def default_as_of(self) -> date:
        return SampleSource().default_as_of()


def stored_days(engine: Engine, ticker: str) -> set[date]:
    with engine.connect() as conn:
        return {stamp.date() for stamp in load_prices(conn, [ticker], AS_OF)[ticker].index}


def test_impossible_sample_rows_are_refused_named_and_the_others_stored(engine: Engine) -> None:
    broken = {
        ("AAPL", date(2005, 3, 1)): {"close": 0.0},
        ("AAPL", date(2005, 3, 2)): {"high": 1.0},  # below the low
        ("IBM", date(2005, 3, 3)): {"volume": -100.0},
        ("IBM", date(2005, 3, 4)): {"open": float("nan")},
    }
    source = CorruptedSample(broken, repeated=("IBM", date(2005, 3, 7)))
    result = ingest(engine, PARAMS, AS_OF, source=source)
    assert [(r.ticker, r.day, r.reason) for r in result.refused] == [
        ("AAPL", date(2005, 3, 1), "price <= 0, close outside [low, high]"),
        ("AAPL", date(2005, 3, 2), "high below low"),
        ("IBM", date(2005, 3, 3), "negative volume"),
        ("IBM", date(2005, 3, 4), "missing or non-finite value"),
        ("IBM", date(2005, 3, 7), "duplicate date"),
        ("IBM", date(2005, 3, 7), "duplicate date"),
    ]
    fetched = {
        t: sum(SampleSource().fetch(t, None, AS_OF)["date"].dt.date >= PARAMS.data.start)
        for t in ("AAPL", "IBM")
    }
    assert result.added == {"AAPL": fetched["AAPL"] - 2, "IBM": fetched["IBM"] - 3}
    assert not {date(2005, 3, 1), date(2005, 3, 2)} & stored_days(engine, "AAPL")
    assert not {date(2005, 3, 3), date(2005, 3, 4), date(2005, 3, 7)} & stored_days(engine, "IBM")
    card = ingest_card(result)
    assert "6 refused" in card and "- AAPL 2005-03-02: high below low" in card
    assert "| IBM | " + f"{result.added['IBM']} | 2005-01-03..2006-06-30 | 4 |" in card


def test_impossible_yahoo_bars_are_refused_through_the_real_yfinance_path(engine: Engine) -> None:
    days = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9, 10)]
    bars = [
        Bar(d, 99.0 + i, 102.0 + i, 98.0 + i, 100.0 + i, 100.0 + i, 1_000_000) for i, d in enumerate(days)
    ]
    bars[1] = Bar(days[1], 100.0, 98.0, 102.0, 100.0, 100.0, 1000)  # high below low
    bars[2] = Bar(days[2], 100.0, 102.0, 98.0, 100.0, 100.0, -5)  # negative volume
    bars[3] = Bar(days[3], 1.0, 2.0, 0.5, 0.0, 0.0, 1000)  # close 0
    source = YahooSource(
        yahoo_session(FakeYahoo({"AAPL": bars})),
        max_attempts=1,
        backoff_seconds=0.001,
        clock=lambda: datetime(2024, 1, 20, 18, tzinfo=EXCHANGE_TZ),
    )
    params = repo_params(tickers("AAPL"), "data.start=2024-01-01")
    result = ingest(engine, params, days[-1], source=source)
    assert [(r.day, r.reason.split(",")[0]) for r in result.refused] == [
        (days[1], "high below low"),
        (days[2], "negative volume"),
        (days[3], "missing or non-finite value"),  # yfinance's adjustment divides by the zero close
    ]
    assert result.added == {"AAPL": 4} and not result.errors
