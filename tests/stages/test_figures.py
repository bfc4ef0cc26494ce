"""The test-window figures of a training: one summary, and at most N tickers, the worst and the best."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from stockpredictor.stages.evaluation import PricePredictions
from stockpredictor.stages.figures import SUMMARY, png, shown_tickers, training_figures

TICKERS = ("AAA", "BBB", "CCC", "DDD", "EEE")


def _predictions() -> PricePredictions:
    """Five tickers whose forecasts miss by 1, 2, ... 5 % of the close (AAA best, EEE worst)."""
    days = 30
    actual = 100.0 + np.cumsum(np.random.default_rng(0).normal(size=(days, len(TICKERS))), axis=0)
    last_close = np.vstack([actual[:1], actual[:-1]])
    miss = 0.01 * np.arange(1, len(TICKERS) + 1)
    as_of = [date(2012, 1, 2) + timedelta(days=i) for i in range(days)]
    return PricePredictions(
        tickers=TICKERS,
        as_of_dates=as_of,
        target_dates=[d + timedelta(days=1) for d in as_of],
        last_close=last_close,
        previous_close=np.vstack([last_close[:1], last_close[:-1]]),
        predicted=actual * (1 + miss),
        actual=actual,
        scored=np.ones((days, len(TICKERS)), dtype=bool),
    )


def test_the_worst_then_the_best_tickers_up_to_the_cap() -> None:
    ratios = {"AAA": 0.9, "BBB": 1.3, "CCC": 1.1, "DDD": 0.7, "EEE": 1.0}
    assert shown_tickers(ratios, 3) == ["BBB", "CCC", "DDD"]  # two worst, then the best
    assert shown_tickers(ratios, 2) == ["BBB", "DDD"]
    assert shown_tickers(ratios, 0) == []
    assert shown_tickers(ratios, 5) == shown_tickers(ratios, 50) == ["BBB", "CCC", "EEE", "AAA", "DDD"]


def test_one_summary_and_the_capped_tickers_rendered_as_png() -> None:
    test = _predictions()
    by_ticker = test.per_ticker()
    assert by_ticker["EEE"]["mae_ratio"] > by_ticker["AAA"]["mae_ratio"]  # precondition: EEE worst, AAA best
    capped = training_figures(test, by_ticker, 2)
    assert list(capped) == [SUMMARY, "EEE", "AAA"]
    assert capped["EEE"].axes[0].get_title() == "EEE: next-day close on the test windows"
    assert all(png(figure).startswith(b"\x89PNG\r\n\x1a\n") for figure in capped.values())
    assert list(training_figures(test, by_ticker, 0)) == [SUMMARY]
    assert len(training_figures(test, by_ticker, 12)) == 1 + len(TICKERS)
