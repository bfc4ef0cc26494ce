"""The bundled `sample` source: split-adjusted, as_of-bounded, offline."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from bokeh_sampledata import stocks

from stockpredictor.errors import ConfigError, SourceError, UnknownTickerError
from stockpredictor.sources import SAMPLE_TICKERS, SampleSource, get_source
from tests.sources.contract import assert_price_frame

LAST_SAMPLE_DAY = date(2013, 3, 1)


@pytest.fixture(scope="module")
def source() -> SampleSource:
    return SampleSource()


def close_on(frame: pd.DataFrame, day: str) -> float:
    return float(frame.loc[frame["date"] == pd.Timestamp(day), "close"].iloc[0])


@pytest.mark.parametrize("ticker", SAMPLE_TICKERS)
def test_every_default_ticker_meets_the_contract(source: SampleSource, ticker: str) -> None:
    frame = source.fetch(ticker, None, LAST_SAMPLE_DAY)
    assert_price_frame(frame)
    assert frame["date"].iloc[-1] == pd.Timestamp(LAST_SAMPLE_DAY)
    assert len(frame) > 2000


def test_aapl_2005_split_is_adjusted_away(source: SampleSource) -> None:
    """AAPL split 2:1 on 2005-02-28: the raw close halves overnight, the adjusted one must not."""
    frame = source.fetch("AAPL", None, date(2005, 3, 31))
    before, after = close_on(frame, "2005-02-25"), close_on(frame, "2005-02-28")
    assert after / before > 0.6
    raw = stocks.data[stocks.data["ticker"] == "AAPL"].set_index("date")["close"]
    assert raw.loc["2005-02-28"] / raw.loc["2005-02-25"] < 0.6  # the bundle is unadjusted


def test_prices_scale_by_adj_close_and_volume_by_its_inverse(source: SampleSource) -> None:
    raw = stocks.data[stocks.data["ticker"] == "MSFT"].set_index("date").loc["2010-06-01"]
    row = source.fetch("MSFT", date(2010, 5, 31), date(2010, 6, 1)).iloc[0]
    factor = raw["adj_close"] / raw["close"]
    assert row["close"] == pytest.approx(raw["adj_close"])
    for column in ("open", "high", "low"):
        assert row[column] == pytest.approx(raw[column] * factor)
    assert row["volume"] == pytest.approx(raw["volume"] / factor)
    assert row["volume"] * row["close"] == pytest.approx(raw["volume"] * raw["close"])


def test_as_of_and_after_bound_the_rows(source: SampleSource) -> None:
    frame = source.fetch("IBM", date(2010, 1, 4), date(2010, 1, 8))
    assert_price_frame(frame)
    assert [d.date() for d in frame["date"]] == [date(2010, 1, d) for d in (5, 6, 7, 8)]


def test_nothing_newer_is_an_empty_frame(source: SampleSource) -> None:
    frame = source.fetch("IBM", LAST_SAMPLE_DAY, date(2020, 1, 1))
    assert frame.empty
    assert_price_frame(frame)


def test_goog_starts_at_its_listing(source: SampleSource) -> None:
    frame = source.fetch("GOOG", None, LAST_SAMPLE_DAY)
    assert frame["date"].iloc[0] == pd.Timestamp("2004-08-19")


def test_no_rows_up_to_as_of_is_an_error(source: SampleSource) -> None:
    with pytest.raises(SourceError, match="GOOG"):
        source.fetch("GOOG", None, date(2004, 8, 18))


def test_unknown_ticker_names_it_and_the_available_ones(source: SampleSource) -> None:
    with pytest.raises(UnknownTickerError, match="ZZZZ") as excinfo:
        source.fetch("ZZZZ", None, LAST_SAMPLE_DAY)
    assert all(ticker in str(excinfo.value) for ticker in SAMPLE_TICKERS)


def test_results_are_copies_of_the_cache(source: SampleSource) -> None:
    first = source.fetch("AAPL", None, LAST_SAMPLE_DAY)
    first["close"] = 0.0
    assert (source.fetch("AAPL", None, LAST_SAMPLE_DAY)["close"] > 0).all()


def test_default_as_of_is_the_last_sample_day() -> None:
    assert get_source("sample").default_as_of() == LAST_SAMPLE_DAY


def test_get_source_rejects_unknown_names() -> None:
    with pytest.raises(ConfigError, match=r"'quandl'.*sample, yahoo"):
        get_source("quandl")
