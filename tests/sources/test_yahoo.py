"""The `yahoo` source through the real yfinance code, on a session that answers like Yahoo (no network)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pandas as pd
import pytest
import requests

from stockpredictor.calendar import latest_completed_session
from stockpredictor.errors import SourceError, UnknownTickerError
from stockpredictor.sources import get_source, yahoo
from stockpredictor.sources.yahoo import EXCHANGE_TZ, YahooSource
from tests.sources.contract import assert_price_frame
from tests.support.fake_yahoo import BAD_GATEWAY, RATE_LIMITED, SERVER_ERROR, Bar, FakeYahoo, yahoo_session

DIVIDEND_FACTOR = 0.98
TRADING_DAYS = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9, 10, 11, 12)]
LAST_DAY = TRADING_DAYS[-1]
SATURDAY_EVENING = datetime(2024, 1, 20, 18, 0, tzinfo=EXCHANGE_TZ)


def make_bars(days: list[date]) -> list[Bar]:
    bars = []
    for i, day in enumerate(days):
        close = 100.0 + i
        bars.append(Bar(day, close - 1, close + 2, close - 2, close, close * DIVIDEND_FACTOR, 1_000_000 + i))
    return bars


def days_of(frame: pd.DataFrame) -> list[date]:
    return [timestamp.date() for timestamp in frame["date"]]


def chart_history_calls(fake: FakeYahoo, symbol: str) -> int:
    return sum("period1" in call for call in fake.chart_calls(symbol))


@pytest.fixture
def fake() -> FakeYahoo:
    return FakeYahoo({"AAPL": make_bars(TRADING_DAYS)})


def make_source(fake: FakeYahoo, clock: datetime = SATURDAY_EVENING, max_attempts: int = 3) -> YahooSource:
    return YahooSource(
        yahoo_session(fake), max_attempts=max_attempts, backoff_seconds=0.001, clock=lambda: clock
    )


@pytest.fixture
def source(fake: FakeYahoo) -> YahooSource:
    return make_source(fake)


def test_good_ticker_lands_with_adjusted_prices(fake: FakeYahoo, source: YahooSource) -> None:
    frame = source.fetch("AAPL", None, LAST_DAY)
    assert_price_frame(frame)
    assert days_of(frame) == TRADING_DAYS
    for bar, row in zip(make_bars(TRADING_DAYS), frame.itertuples(), strict=True):
        assert row.close == pytest.approx(bar.adjclose)
        assert row.open == pytest.approx(bar.open * DIVIDEND_FACTOR)
        assert row.high == pytest.approx(bar.high * DIVIDEND_FACTOR)
        assert row.low == pytest.approx(bar.low * DIVIDEND_FACTOR)
        assert row.volume == bar.volume  # Yahoo's volume is already split-adjusted
    assert chart_history_calls(fake, "AAPL") == 1
    assert {urlsplit(url).hostname for url in fake.urls} <= {
        "fc.yahoo.com",
        "query1.finance.yahoo.com",
        "query2.finance.yahoo.com",
    }


def test_rows_after_as_of_are_never_returned() -> None:
    fake = FakeYahoo({"AAPL": make_bars(TRADING_DAYS)}, overshoot=3)  # Yahoo appends its latest bars
    frame = make_source(fake).fetch("AAPL", None, date(2024, 1, 5))
    assert max(fake.served_days) > date(2024, 1, 5)
    assert days_of(frame) == TRADING_DAYS[:4]


def test_after_filters(source: YahooSource) -> None:
    frame = source.fetch("AAPL", date(2024, 1, 8), date(2024, 1, 10))
    assert_price_frame(frame)
    assert days_of(frame) == [date(2024, 1, 9), date(2024, 1, 10)]


def test_nothing_newer_is_an_empty_frame(source: YahooSource) -> None:
    frame = source.fetch("AAPL", LAST_DAY, LAST_DAY + timedelta(days=2))  # the weekend after
    assert frame.empty
    assert_price_frame(frame)


def test_up_to_date_ticker_asks_nothing(fake: FakeYahoo, source: YahooSource) -> None:
    assert source.fetch("AAPL", LAST_DAY, LAST_DAY).empty
    assert fake.urls == []


def test_no_data_up_to_as_of_is_an_error(source: YahooSource) -> None:
    with pytest.raises(SourceError, match=r"AAPL.*no price data") as excinfo:
        source.fetch("AAPL", None, date(2023, 12, 1))  # Yahoo: 400 "Data doesn't exist for startDate"
    assert not isinstance(excinfo.value, UnknownTickerError)


@pytest.mark.parametrize("ticker", ["ZZZZ", "ZZZY", "ZZZX"])  # yfinance's path changes after two of them
def test_unknown_ticker_is_named_and_not_retried(fake: FakeYahoo, source: YahooSource, ticker: str) -> None:
    with pytest.raises(UnknownTickerError, match=ticker):
        source.fetch(ticker, None, LAST_DAY)
    assert len(fake.chart_calls(ticker)) <= 2  # yfinance's own second try, none of ours


def test_ticker_delisted_since_last_ingest_is_an_error(fake: FakeYahoo, source: YahooSource) -> None:
    source.fetch("AAPL", None, date(2024, 1, 5))  # yfinance now knows AAPL's time zone
    del fake.bars["AAPL"]
    with pytest.raises(UnknownTickerError, match=r"AAPL.*delisted"):
        source.fetch("AAPL", date(2024, 1, 5), LAST_DAY)


@pytest.mark.parametrize(
    "failures",
    [
        pytest.param([RATE_LIMITED, RATE_LIMITED], id="429"),
        pytest.param([SERVER_ERROR, SERVER_ERROR], id="500-html"),
        pytest.param([BAD_GATEWAY, BAD_GATEWAY], id="502-json"),
        pytest.param([requests.ConnectionError("connection reset")], id="connection-error"),
    ],
)
def test_transient_failure_is_retried_and_succeeds(
    fake: FakeYahoo, source: YahooSource, failures: list
) -> None:
    fake.fail_next_charts(*failures)
    frame = source.fetch("AAPL", None, LAST_DAY)
    assert days_of(frame) == TRADING_DAYS
    assert len(fake.chart_calls("AAPL")) > len(failures)


def test_persistent_rate_limit_backs_off_then_gives_up(
    fake: FakeYahoo, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []
    monkeypatch.setattr(yahoo.time_module, "sleep", delays.append)
    fake.fail_next_charts(*[RATE_LIMITED] * 100)
    source = YahooSource(
        yahoo_session(fake), max_attempts=4, backoff_seconds=0.5, clock=lambda: SATURDAY_EVENING
    )
    with pytest.raises(SourceError, match=r"AAPL.*4 times.*YFRateLimitError") as excinfo:
        source.fetch("AAPL", None, LAST_DAY)
    assert not isinstance(excinfo.value, UnknownTickerError)
    assert delays == [0.5, 1.0, 2.0]
    assert len(fake.chart_calls("AAPL")) == 4 * 2  # yfinance tries twice per attempt


def test_todays_partial_bar_waits_for_the_close(fake: FakeYahoo) -> None:
    midday = datetime.combine(LAST_DAY, datetime.min.time(), EXCHANGE_TZ) + timedelta(hours=11)
    assert days_of(make_source(fake, clock=midday).fetch("AAPL", None, LAST_DAY))[-1] == TRADING_DAYS[-2]
    evening = midday + timedelta(hours=7)
    assert days_of(make_source(fake, clock=evening).fetch("AAPL", None, LAST_DAY))[-1] == LAST_DAY


@pytest.mark.parametrize(
    ("now", "session"),
    [
        (datetime(2024, 1, 13, 2, 0, tzinfo=UTC), date(2024, 1, 12)),  # Friday evening in New York
        (datetime(2024, 1, 12, 20, 59, tzinfo=UTC), date(2024, 1, 11)),  # Friday before the close
        (datetime(2024, 1, 14, 15, 0, tzinfo=UTC), date(2024, 1, 12)),  # Sunday
        (datetime(2024, 1, 15, 22, 0, tzinfo=UTC), date(2024, 1, 12)),  # Martin Luther King Jr. Day
        (datetime(2024, 11, 29, 18, 5, tzinfo=UTC), date(2024, 11, 29)),  # after the 13:00 early close
    ],
)
def test_default_as_of_is_the_latest_completed_session(fake: FakeYahoo, now: datetime, session: date) -> None:
    assert make_source(fake, clock=now).default_as_of() == session
    assert YahooSource(yahoo_session(fake)).default_as_of() == latest_completed_session()


def test_get_source_passes_options(fake: FakeYahoo) -> None:
    session = yahoo_session(fake)
    source = get_source("yahoo", session=session, max_attempts=2, backoff_seconds=0.5)
    assert isinstance(source, YahooSource)
    assert (source.session, source.max_attempts, source.backoff_seconds) == (session, 2, 0.5)


def test_max_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        YahooSource(requests.Session(), max_attempts=0)


def test_with_no_network_the_source_gives_up_within_its_retry_deadline(
    fake: FakeYahoo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four tickers, no network: waits of 1+2+4 s, then 1+2 s (the 10 s are spent), then no retry."""
    now = [0.0]
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(yahoo.time_module, "sleep", sleep)
    monkeypatch.setattr(yahoo.time_module, "monotonic", lambda: now[0])
    fake.fail_next_charts(
        *[requests.ConnectionError("Could not resolve host: query2.finance.yahoo.com")] * 100
    )
    source = YahooSource(yahoo_session(fake), clock=lambda: SATURDAY_EVENING)
    messages = []
    for ticker in ("AAPL", "GOOG", "IBM", "MSFT"):
        with pytest.raises(SourceError) as excinfo:
            source.fetch(ticker, None, LAST_DAY)
        messages.append(str(excinfo.value))
    assert delays == [1.0, 2.0, 4.0, 1.0, 2.0] and sum(delays) == source.retry_deadline_seconds
    assert "MSFT: Yahoo download failed 1 time(s)" in messages[-1]
    assert "no retry: the source's 10 s retry deadline passed" in messages[-1]
