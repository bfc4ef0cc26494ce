"""A volatility regime shift injected into the real sample path: the intervals' online loop recovers.

The bundled prices of the four sample tickers are ingested day by day through `ScaledMovesSource`
(every log move from SHIFT on ×3); `replay_persistence_ranges` serves persistence forecasts' ranges
with predict's code and runs the monitor (calibration, coverage, alerts) each session. No model is
trained: the center is exact persistence, so what is measured is the volatility forecast and its
calibration alone.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import Engine

from stockpredictor.calendar import trading_days
from stockpredictor.db.events import all_events
from stockpredictor.sources.sample import SampleSource
from stockpredictor.sources.shifted import ScaledMovesSource
from stockpredictor.stages.monitor import COVERAGE
from stockpredictor.stages.replay_ranges import coverage_by_session, replay_persistence_ranges
from tests.support.overrides import SAMPLE_TICKERS, repo_params, tickers

START, SHIFT, END = date(2012, 6, 1), date(2012, 9, 4), date(2012, 11, 30)


@pytest.mark.slow
def test_coverage_recovers_within_20_sessions_of_a_threefold_volatility_shift_and_the_breach_is_alerted(
    engine: Engine,
) -> None:
    params = repo_params(tickers(*SAMPLE_TICKERS), "data.start=2011-01-01")
    days = trading_days(START, END)
    rows = replay_persistence_ranges(engine, params, days, ScaledMovesSource(SampleSource(), SHIFT, 3.0))
    with engine.connect() as conn:
        alerted = sorted(
            date.fromisoformat(e.fields["as_of"]) for e in all_events(conn) if e.kind == COVERAGE
        )
    after = [d for d in days if d >= SHIFT]
    assert [d for d in alerted if d < SHIFT] == []  # no false alarm in the calm months before
    assert alerted and after.index(alerted[0]) < 10, alerted  # the breach is alerted within two weeks
    for level in params.intervals.levels:
        sessions, share = coverage_by_session(rows, level)
        start = sessions.index(after[0])
        recovered = share[start + 20 : start + 40]  # the 20 sessions after 20 sessions of the new regime
        assert len(recovered) == 20 and abs(np.mean(recovered) - level) <= 0.05, (level, np.mean(recovered))
