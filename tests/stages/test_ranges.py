"""The monitor's interval loop on hand-made forecasts, on real SQLite and PostgreSQL.

One ticker, persistence-like forecasts of +0.1 % with volatility 1 % and an 80 % interval of ±1 %
around them (multiplier 1). The close moves +0.5 % (inside) and +2 % (outside) in turn: five misses
in ten sessions, a coverage of 0.5 against 0.8 (Kupiec p = 0.035 < coverage_alpha 0.05).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, insert, select

from stockpredictor.calendar import trading_days
from stockpredictor.config import Params
from stockpredictor.db.events import all_events
from stockpredictor.db.intervals import calibration_states
from stockpredictor.db.schema import latest_predictions, monitor_decisions, raw_stock_data
from stockpredictor.models.intervals import kupiec_p_value, normal_multiplier
from stockpredictor.models.retraining_policy import RECALIBRATE
from stockpredictor.stages.monitor import COVERAGE, RETRAIN, monitor_model
from tests.support.overrides import repo_params

RUN = "run-production"
DAYS = trading_days(date(2012, 6, 1), date(2012, 7, 31))[:21]
MOVES = [0.005 if i % 2 == 0 else 0.02 for i in range(20)]  # into DAYS[i + 1]
CLOSE = [100.0 * math.exp(sum(MOVES[:i])) for i in range(21)]


def params() -> Params:
    return repo_params(
        "intervals.levels=[0.8]",
        "intervals.step=0.1",
        "intervals.coverage_alpha=0.05",
        "intervals.recalibration_sessions=10",
        "monitoring.window_days=10",
        "monitoring.min_evaluations=10",
    )


def _store(engine: Engine, first: int, last: int) -> None:
    """Prices of DAYS[first..last] and the forecasts targeting them (made the session before)."""
    now = datetime.now(UTC)
    prices = [
        {"ticker": "AAA", "date": DAYS[i], "open": c, "high": c, "low": c, "close": c, "volume": 1.0}
        | {"source": "sample", "ingested_at": now}
        for i, c in enumerate(CLOSE)
        if first <= i <= last
    ]
    forecasts = [
        {
            "kind": "daily",
            "model_run_id": RUN,
            "model_version": "3",
            "ticker": "AAA",
            "as_of_date": DAYS[i],
            "target_date": DAYS[i + 1],
            "last_close": CLOSE[i],
            "predicted_close": CLOSE[i] * math.exp(0.001),
            "volatility": 0.01,
            "intervals": {"0.8": [CLOSE[i] * math.exp(-0.009), CLOSE[i] * math.exp(0.011)]},
            "baseline_volatility": {"ewma": 0.01, "rolling": 0.02},
            "created_at": now,
        }
        for i in range(max(first - 1, 0), last)
    ]
    with engine.begin() as conn:
        conn.execute(insert(raw_stock_data), prices)
        conn.execute(insert(latest_predictions), forecasts)


def _multiplier(engine: Engine, known_through: date = DAYS[-1]) -> tuple[float, date | None, date | None]:
    with engine.connect() as conn:
        state = calibration_states(
            conn, params().train.model_name, "3", ["AAA"], {0.8: math.nan}, known_through
        )["AAA", 0.8]
    return state.multiplier, state.through_date, state.recalibrated_on


def test_a_breach_recalibrates_and_alerts_then_retrains_when_recalibration_does_not_restore(
    engine: Engine,
) -> None:
    _store(engine, 0, 10)
    first = monitor_model(engine, params(), RUN, DAYS[10])
    # misses F,T,F,T,...: from the normal start 1.2816, + 0.1 (5 * 0.8 - 5 * 0.2) = 1.5816 ...
    stats = first.metrics
    assert stats["coverage_0.8"] == pytest.approx(0.5) and stats["coverage_0.8_AAA"] == pytest.approx(0.5)
    assert stats["width_0.8"] == pytest.approx(0.02)
    assert stats["winkler_0.8"] == pytest.approx(0.02 + 10 * 0.009 / 2)  # misses are 0.9 % beyond
    assert stats["kupiec_p_0.8"] == pytest.approx(kupiec_p_value(5, 10, 0.2))
    # baselines around +0.1 %: EWMA ±1.28 * 1 % misses the 2 % moves, rolling ±1.28 * 2 % holds them all
    assert (stats["coverage_0.8_ewma"], stats["coverage_0.8_rolling"]) == (
        pytest.approx(0.5),
        pytest.approx(1.0),
    )
    assert first.decision == RECALIBRATE, first.reason
    # ... and marked recalibrated (the tracking already widened it)
    assert _multiplier(engine) == (pytest.approx(1.2816 + 0.3, abs=1e-4), DAYS[10], DAYS[10])
    with engine.connect() as conn:
        alerts = [e for e in all_events(conn) if e.kind == COVERAGE]
        stored = conn.execute(select(monitor_decisions.c.decision, monitor_decisions.c.statistics)).one()
    assert len(alerts) == 1 and "80% interval covered 0.500" in alerts[0].text
    assert stored.decision == RECALIBRATE and stored.statistics["coverage_0.8"] == pytest.approx(0.5)

    _store(engine, 11, 20)
    second = monitor_model(engine, params(), RUN, DAYS[20])
    assert second.decision == RETRAIN and "again after a recalibration on" in second.reason
    # folded again: + 0.3
    assert _multiplier(engine) == (pytest.approx(1.2816 + 0.6, abs=1e-4), DAYS[20], DAYS[20])
    # the history keeps what was known on each day: a forecast rerun for DAYS[15] gets the DAYS[10] state
    assert _multiplier(engine, DAYS[19]) == (pytest.approx(1.2816 + 0.3, abs=1e-4), DAYS[10], DAYS[10])


def test_a_new_version_starts_from_the_state_it_replaces(engine: Engine) -> None:
    _store(engine, 0, 10)
    monitor_model(engine, params(), RUN, DAYS[10])
    with engine.connect() as conn:
        fresh = calibration_states(
            conn, "another-model", "1", ["AAA"], {0.8: normal_multiplier(0.8)}, DAYS[10]
        )
        inherited = calibration_states(
            conn, params().train.model_name, "4", ["AAA"], {0.8: math.nan}, DAYS[10]
        )
    assert fresh["AAA", 0.8].multiplier == pytest.approx(1.281552, abs=1e-6)
    assert (
        inherited["AAA", 0.8].multiplier == pytest.approx(1.5816, abs=1e-4)
        and inherited["AAA", 0.8].n_updates == 0
    )
