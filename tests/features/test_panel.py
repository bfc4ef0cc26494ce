"""The panel on plain frames: the exchange calendar over the union of sessions, absent cells as NaN,
next-session targets only where a ticker has both sessions."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import pandas as pd

from stockpredictor.calendar import next_trading_day
from stockpredictor.features.indicators import WARMUP_ROWS
from stockpredictor.features.panel import build_panel, next_day_targets, targets_to_close
from tests.features.conftest import RandomWalk

COLUMNS = ("log_return_1", "rsi_14")


def test_target_is_next_day_log_return_one_shift() -> None:
    close = np.array([[100.0], [110.0], [99.0]])
    targets = next_day_targets(close, "log_return")
    np.testing.assert_allclose(targets[:2, 0], [np.log(1.1), np.log(0.9)], rtol=1e-6)
    assert np.isnan(targets[2, 0])
    np.testing.assert_allclose(targets_to_close(targets[:1], close[:1], "log_return"), [[110.0]], rtol=1e-6)


def _day(panel_dates: np.ndarray, index: int) -> date:
    return date.fromisoformat(str(panel_dates[index]))


def test_panel_runs_on_consecutive_sessions(random_walk: RandomWalk) -> None:
    panel = build_panel({"A": random_walk(300, 1)}, COLUMNS)
    days = [_day(panel.dates, i) for i in range(len(panel.dates))]
    assert all(next_trading_day(a) == b for a, b in itertools.pairwise(days))
    assert panel.features.dtype == np.float32


def test_late_listing_is_absent_before_its_first_day(random_walk: RandomWalk) -> None:
    early, late = random_walk(300, 1), random_walk(262, 2, start="2010-03-01")
    assert late.index[-1] == early.index[-1]
    panel = build_panel({"A": early, "B": late}, COLUMNS)
    assert panel.dates[0] == np.datetime64(early.index[WARMUP_ROWS].date())
    listed = int(np.searchsorted(panel.dates, np.datetime64(late.index[WARMUP_ROWS].date())))
    assert listed > 0
    assert not panel.present[:listed, 1].any() and panel.present[listed:, 1].all()
    assert np.isnan(panel.features[:listed, 1]).all() and np.isnan(panel.targets[:listed, 1]).all()
    assert panel.present[:, 0].all()
    np.testing.assert_allclose(panel.close[listed:, 1], late["close"].iloc[WARMUP_ROWS:], rtol=1e-12)


def test_delisted_ticker_is_absent_after_its_last_day(random_walk: RandomWalk) -> None:
    long, delisted = random_walk(300, 1), random_walk(200, 2)
    panel = build_panel({"A": long, "B": delisted}, COLUMNS)
    last = int(np.searchsorted(panel.dates, np.datetime64(delisted.index[-1].date())))
    assert panel.present[: last + 1, 1].all() and not panel.present[last + 1 :, 1].any()
    assert np.isnan(panel.targets[last:, 1]).all()  # its last day has no next session
    assert np.isfinite(panel.targets[last:-1, 0]).all()


def test_a_missing_day_never_becomes_a_two_session_target(random_walk: RandomWalk) -> None:
    halted = random_walk(150, 2)
    gap = halted.index[100]
    panel = build_panel({"A": random_walk(150, 1), "B": halted.drop(index=gap)}, COLUMNS)
    t = int(np.searchsorted(panel.dates, np.datetime64(gap.date())))
    assert panel.dates[t] == np.datetime64(gap.date())  # the session stays in the panel
    assert not panel.present[t, 1] and panel.present[t, 0]
    assert np.isnan(panel.targets[t - 1, 1]) and np.isnan(panel.targets[t, 1])  # both touch the gap
    both = np.isfinite(panel.close[:-1]) & np.isfinite(panel.close[1:])
    assert (np.isfinite(panel.targets[:-1]) == both).all()
    np.testing.assert_allclose(
        panel.targets[:-1][both], np.log(panel.close[1:] / panel.close[:-1])[both], rtol=1e-5
    )


def test_rows_off_the_calendar_are_dropped_and_until_extends_it(random_walk: RandomWalk) -> None:
    prices = random_walk(120, 1)
    holiday = pd.Timestamp("2010-07-05")  # Independence Day observed: no session
    extra = prices.iloc[[-1]].set_axis(pd.DatetimeIndex([holiday], name="date"))
    assert holiday > prices.index[-1]
    panel = build_panel({"A": pd.concat([prices, extra])}, COLUMNS, until=date(2010, 7, 9))
    assert np.datetime64(holiday.date()) not in panel.dates
    assert panel.dates[-1] == np.datetime64("2010-07-09")
    assert not panel.present[-4:, 0].any()
