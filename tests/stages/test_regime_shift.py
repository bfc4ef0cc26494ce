"""A volatility regime shift injected into the real sample path: the intervals' online loop recovers.

The bundled prices of the four sample tickers are ingested day by day through `ScaledMovesSource`
(every log move from SHIFT on ×3). Each session, `forecast_ranges` (predict's code) serves persistence
forecasts' intervals, stored as daily predictions, and `monitor_model` folds the matured ones into the
calibration and judges coverage, as the daily pipeline does (no model is trained: the center is
exact persistence, so what is measured is the volatility forecast and its calibration alone).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from sqlalchemy import Engine

from stockpredictor.calendar import next_trading_day, trading_days
from stockpredictor.db.events import all_events
from stockpredictor.db.intervals import matured_ranges
from stockpredictor.db.predictions import store_daily_predictions
from stockpredictor.db.prices import load_prices
from stockpredictor.sources.sample import SampleSource
from stockpredictor.sources.shifted import ScaledMovesSource
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.monitor import COVERAGE, monitor_model
from stockpredictor.stages.ranges import forecast_ranges
from stockpredictor.stages.replay_ranges import coverage_by_session
from tests.support.overrides import SAMPLE_TICKERS, repo_params, tickers

START, SHIFT, END = date(2012, 6, 1), date(2012, 9, 4), date(2012, 11, 30)
RUN = "persistence-run"


def _serve_persistence(engine: Engine, day: date, params_tickers: tuple[str, ...]) -> None:
    params = repo_params(tickers(*params_tickers))
    with engine.connect() as conn:
        closes = {
            t: float(f["close"].iloc[-1]) for t, f in load_prices(conn, params_tickers, day, day).items()
        }
        ranges = forecast_ranges(conn, params, "1", day, closes, closes)
    rows = [
        {
            "kind": "daily",
            "model_run_id": RUN,
            "model_version": "1",
            "ticker": t,
            "as_of_date": day,
            "target_date": next_trading_day(day),
            "last_close": closes[t],
            "predicted_close": closes[t],
            "volatility": r.volatility,
            "intervals": r.intervals,
            "baseline_volatility": r.baseline_volatility,
            "created_at": datetime.now(UTC),
        }
        for t, r in ranges.items()
    ]
    with engine.begin() as conn:
        store_daily_predictions(conn, rows)


@pytest.mark.slow
def test_coverage_recovers_within_20_sessions_of_a_threefold_volatility_shift_and_the_breach_is_alerted(
    tmp_path: object, engine: Engine
) -> None:
    params = repo_params(tickers(*SAMPLE_TICKERS), "data.start=2011-01-01")
    source = ScaledMovesSource(SampleSource(), SHIFT, 3.0)
    days = trading_days(START, END)
    for day in days:
        ingest(engine, params, day, source)
        monitor_model(engine, params, RUN, day, baseline=True)
        _serve_persistence(engine, day, SAMPLE_TICKERS)
    with engine.connect() as conn:
        rows = matured_ranges(conn, RUN, END)
        alerts = [e for e in all_events(conn) if e.kind == COVERAGE]
    after = [d for d in days if d >= SHIFT]
    alerted = sorted(date.fromisoformat(e.fields["as_of"]) for e in alerts)
    assert [d for d in alerted if d < SHIFT] == []  # no false alarm in the calm months before
    first = next(d for d in alerted if d >= SHIFT)
    assert after.index(first) < 10, alerts  # the breach is alerted within two weeks
    for level in params.intervals.levels:
        sessions, share = coverage_by_session(rows, level)
        start = sessions.index(after[0])
        recovered = share[start + 20 : start + 40]
        assert len(recovered) == 20 and abs(np.mean(recovered) - level) <= 0.05, (level, np.mean(recovered))
