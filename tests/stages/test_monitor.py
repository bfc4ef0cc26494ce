"""Monitoring on a hand-made set of predictions, on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, insert, select

from stockpredictor.config import Params
from stockpredictor.db.schema import latest_predictions, model_performance_log, raw_stock_data
from stockpredictor.stages.monitor import INSUFFICIENT_DATA, OK, RETRAIN, monitor_model
from tests.support.overrides import repo_params

PROD, OLD = "run-production", "run-old"
# Fri 2012-06-01, Mon 06-04 .. Fri 06-08: the Friday prediction targets Monday.
DAYS = [
    date(2012, 6, 1),
    date(2012, 6, 4),
    date(2012, 6, 5),
    date(2012, 6, 6),
    date(2012, 6, 7),
    date(2012, 6, 8),
]
CLOSE = [100.0, 102.0, 101.0, 103.0, 103.0, 104.0]
PREDICTED = [101.0, 103.0, 102.0, 104.0, 99.0]  # made on DAYS[i] for DAYS[i + 1]
AS_OF = DAYS[4]  # DAYS[5]'s close is stored but lies after as_of: not evaluated yet

# Hand-computed over the four matured targets DAYS[1..4]:
#   errors (predicted - actual)   -1, +2, -1, +1        -> MAE 1.25
#   persistence (last - actual)   -2, +1, -2,  0        -> MAE 1.25, ratio 1.0
#   direction vs last close       up/up, up/down, up/up, up/flat -> 2 of 4 correct
#   baselines                     always up: 2 of 4; last move: 0 of 3 (the first has no previous close)
MAPE = 100 * (1 / 102 + 2 / 101 + 1 / 103 + 1 / 103) / 4  # 1.2256...


def params_with(**monitoring: float) -> Params:
    return repo_params(*(f"monitoring.{k}={v}" for k, v in monitoring.items()))


def _store(engine: Engine) -> None:
    now = datetime.now(UTC)
    prices = [
        {
            "ticker": t,
            "date": d,
            "open": c,
            "high": c,
            "low": c,
            "close": c,
            "volume": 1.0,
            "source": "sample",
            "ingested_at": now,
        }
        for t in ("AAA", "BBB")
        for d, c in zip(DAYS, CLOSE, strict=True)
    ]

    def prediction(kind: str, run: str, ticker: str, i: int, predicted: float) -> dict[str, object]:
        return {
            "kind": kind,
            "model_run_id": run,
            "model_version": "1",
            "ticker": ticker,
            "as_of_date": DAYS[i],
            "target_date": DAYS[i + 1],
            "last_close": CLOSE[i],
            "predicted_close": predicted,
            "created_at": now,
        }

    predictions = [prediction("daily", PROD, "AAA", i, p) for i, p in enumerate(PREDICTED)]
    predictions += [prediction("daily", OLD, "BBB", 0, 150.0)]  # another model: logged, never judged here
    predictions += [prediction("test", PROD, "BBB", i, 500.0) for i in range(4)]  # training-time: ignored
    with engine.begin() as conn:
        conn.execute(insert(raw_stock_data), prices)
        conn.execute(insert(latest_predictions), predictions)


@pytest.fixture
def stored(engine: Engine) -> Engine:
    _store(engine)
    return engine


def logged(engine: Engine) -> list[tuple[object, ...]]:
    log = model_performance_log
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    log.c.model_run_id,
                    log.c.ticker,
                    log.c.target_date,
                    log.c.error,
                    log.c.pct_error,
                    log.c.direction_correct,
                    log.c.persistence_error,
                ).order_by(log.c.model_run_id, log.c.target_date)
            )
        ]


def test_evaluations_are_logged_once_with_hand_computed_values(stored: Engine) -> None:
    result = monitor_model(stored, params_with(min_evaluations=4), PROD, AS_OF)
    assert result.n_new_evaluations == 5
    rows = logged(stored)
    assert rows[0][:3] == (OLD, "BBB", DAYS[1]) and rows[0][3] == pytest.approx(48.0)
    expected = [
        (-1.0, -100 / 102, True, -2.0),
        (2.0, 200 / 101, False, 1.0),
        (-1.0, -100 / 103, True, -2.0),
        (1.0, 100 / 103, False, 0.0),
    ]
    assert [r[2] for r in rows[1:]] == DAYS[1:5]
    for row, (error, pct, direction, persistence) in zip(rows[1:], expected, strict=True):
        assert row[3:] == (pytest.approx(error), pytest.approx(pct), direction, pytest.approx(persistence))

    assert result.decision == OK, result.reason
    metrics = result.metrics
    assert metrics["mae"] == pytest.approx(1.25)
    assert metrics["persistence_mae"] == pytest.approx(1.25)
    assert metrics["mae_ratio"] == pytest.approx(1.0)
    assert metrics["mape"] == pytest.approx(MAPE)
    assert metrics["directional_accuracy"] == pytest.approx(0.5)
    assert "persistence_directional_accuracy" not in metrics  # persistence never calls a move
    assert metrics["always_up_directional_accuracy"] == pytest.approx(0.5)  # DAYS[1], DAYS[3] rose
    # the move into DAYS[1..3] (05-31 before DAYS[0] is not stored): up, down, up; then down, up, flat
    assert metrics["last_move_directional_accuracy"] == 0.0
    assert (metrics["n_days"], metrics["n_evaluations"]) == (4, 4)

    again = monitor_model(stored, params_with(min_evaluations=4), PROD, AS_OF)
    assert again.n_new_evaluations == 0 and logged(stored) == rows
    assert again.metrics == metrics

    later = monitor_model(stored, params_with(min_evaluations=4), PROD, DAYS[5])
    assert later.n_new_evaluations == 1 and later.metrics["n_days"] == 5


CASES: list[tuple[dict[str, float], str, str]] = [
    ({"min_evaluations": 5}, INSUFFICIENT_DATA, "4 evaluated day(s) < min_evaluations 5"),
    ({"min_evaluations": 4, "max_mape": 1.2}, RETRAIN, "MAPE 1.226% > max_mape 1.2%"),
    ({"min_evaluations": 4, "min_directional_accuracy": 0.6}, RETRAIN, "directional accuracy 0.500 <"),
    ({"min_evaluations": 4, "max_mae_ratio_to_persistence": 0.9}, RETRAIN, "MAE 1.000x persistence >"),
    ({"min_evaluations": 4, "max_mape": 1.0, "min_directional_accuracy": 0.9}, RETRAIN, "MAPE 1.226%"),
    (
        {
            "min_evaluations": 4,
            "max_mape": 1.3,
            "min_directional_accuracy": 0.5,
            "max_mae_ratio_to_persistence": 1.0,
        },
        OK,
        "within thresholds",
    ),
]


def test_each_threshold_gives_its_decision(stored: Engine) -> None:
    for monitoring, decision, reason in CASES:
        result = monitor_model(stored, params_with(**monitoring), PROD, AS_OF)
        assert (result.decision, result.mlflow_run_id) == (decision, PROD), monitoring
        assert reason in result.reason, (monitoring, result.reason)
    both = monitor_model(stored, params_with(**CASES[4][0]), PROD, AS_OF)
    assert "MAPE" in both.reason and "directional accuracy" in both.reason  # every breach is named


def test_window_holds_the_last_evaluated_days_only(stored: Engine) -> None:
    result = monitor_model(stored, params_with(window_days=2, min_evaluations=2), PROD, AS_OF)
    assert (result.metrics["n_days"], result.metrics["mae"], result.metrics["persistence_mae"]) == (
        2,
        1.0,
        1.0,
    )


def test_no_production_model_or_no_evaluation_is_insufficient_data(stored: Engine) -> None:
    none = monitor_model(stored, params_with(), None, AS_OF)
    assert (none.decision, none.reason, none.n_new_evaluations) == (
        INSUFFICIENT_DATA,
        "no production model",
        5,
    )
    fresh = monitor_model(stored, params_with(), "run-never-predicted", AS_OF)
    assert fresh.decision == INSUFFICIENT_DATA and fresh.n_new_evaluations == 0
    with stored.connect() as conn:
        assert conn.execute(select(func.count()).select_from(model_performance_log)).scalar_one() == 5


def test_a_prediction_is_scored_only_against_the_session_after_its_as_of_session(stored: Engine) -> None:
    """CCC's prediction skips a session; DDD has no row on its target session but one on the next."""
    now = datetime.now(UTC)
    rows = [
        {"ticker": t, "date": d, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
        for t, days in (("CCC", DAYS), ("DDD", [DAYS[1], DAYS[3]]))
        for d in days
    ]
    predictions = [
        (PROD, "CCC", DAYS[1], DAYS[3]),  # a target two sessions on: never scored
        (PROD, "DDD", DAYS[1], DAYS[2]),  # DDD misses DAYS[2]: not scored against DAYS[3] either
    ]
    with stored.begin() as conn:
        conn.execute(insert(raw_stock_data), [{**r, "source": "sample", "ingested_at": now} for r in rows])
        conn.execute(
            insert(latest_predictions),
            [
                {
                    "kind": "daily",
                    "model_run_id": run,
                    "model_version": "1",
                    "ticker": ticker,
                    "as_of_date": as_of,
                    "target_date": target,
                    "last_close": 100.0,
                    "predicted_close": 100.0,
                    "created_at": now,
                }
                for run, ticker, as_of, target in predictions
            ],
        )
    result = monitor_model(stored, params_with(min_evaluations=1), PROD, DAYS[5])
    assert result.n_new_evaluations == 6  # the hand-made set's six, none of CCC or DDD
    assert {r[1] for r in logged(stored)} == {"AAA", "BBB"}
