"""Monitoring on a hand-made set of predictions, on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from sqlalchemy import Engine, func, insert, select

from stockpredictor.config import Params
from stockpredictor.db.monitor_decisions import decision_log
from stockpredictor.db.promotions import PROMOTED, REJECTED, PromotionRecord, record_promotion
from stockpredictor.db.schema import latest_predictions, model_performance_log, raw_stock_data
from stockpredictor.models.retraining_policy import (
    AWAITING_EVIDENCE,
    SUPPRESSED_BUDGET,
    SUPPRESSED_COOLDOWN,
)
from stockpredictor.models.significance import diebold_mariano
from stockpredictor.orchestration.cards import monitor_card
from stockpredictor.stages.monitor import BASELINE_SERVES, INSUFFICIENT_DATA, OK, RETRAIN, monitor_model
from stockpredictor.stages.promote import FORCED
from tests.support.overrides import repo_params

PROD, OLD = "run-production", "run-old"
MODEL = repo_params().train.model_name
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


# The trigger's tests on the four matured targets (DAYS[1..4]):
#   per-session log-return errors: model |ln(101/102)|, |ln(103/101)|, |ln(102/103)|, |ln(104/103)|;
#   persistence |ln(100/102)|, |ln(102/101)|, |ln(101/103)|, 0 -> ratio 0.99219, DM -0.034, p 0.512
#   direction, on the three predictions whose previous close is stored (made on DAYS[1..3]):
#     model 1/3, always up 1/3, last move 0/3 -> binomial P(X <= 1 | 3, 1/3) = 20/27
CASES: list[tuple[dict[str, float], str, str]] = [
    ({"min_evaluations": 5}, INSUFFICIENT_DATA, "4 evaluated day(s) < min_evaluations 5"),
    ({"min_evaluations": 4, "max_mape": 1.2}, RETRAIN, "MAPE 1.226% > max_mape 1.2% (hard guard)"),
    (
        {"min_evaluations": 4, "alpha": 0.5},
        OK,
        "no significant degradation: MAPE 1.226% <= max_mape 5.0% (hard guard); "
        "log-return MAE 0.9922x persistence, Diebold-Mariano -0.03, p 0.512 >= alpha 0.5",
    ),
    (
        {"min_evaluations": 4},
        OK,
        "directional accuracy 0.333 vs always up 0.333 (always up 0.333, last move 0.000) on 3 calls, "
        "binomial p 0.741 >= alpha 0.05",
    ),
]


def test_each_rule_gives_its_decision_with_statistics_and_p_values(stored: Engine) -> None:
    for monitoring, decision, reason in CASES:
        result = monitor_model(stored, params_with(**monitoring), PROD, AS_OF)
        assert (result.decision, result.mlflow_run_id) == (decision, PROD), monitoring
        assert reason in result.reason, (monitoring, result.reason)
    metrics = monitor_model(stored, params_with(min_evaluations=4), PROD, AS_OF).metrics
    model = np.abs(np.log(np.array([101, 103, 102, 104]) / np.array([102, 101, 103, 103])))
    persistence = np.abs(np.log(np.array([100, 102, 101, 103]) / np.array([102, 101, 103, 103])))
    expected = diebold_mariano(model, persistence)
    assert metrics["dm_statistic"] == pytest.approx(expected.statistic)
    assert metrics["dm_p_value"] == metrics["loss_p_worse"] == pytest.approx(expected.p_value)
    assert metrics["log_mae_ratio"] == pytest.approx(model.mean() / persistence.mean())
    assert metrics["loss_p_better"] == pytest.approx(diebold_mariano(persistence, model).p_value)
    assert metrics["direction_p_value"] == pytest.approx(20 / 27)
    assert metrics["direction_always_up_accuracy"] == pytest.approx(1 / 3)
    assert metrics["direction_last_move_accuracy"] == 0.0
    assert metrics["n_direction"] == 3


def test_window_holds_the_last_evaluated_days_only(stored: Engine) -> None:
    result = monitor_model(
        stored, params_with(window_days=2, min_evaluations=2, fresh_evidence_sessions=2), PROD, AS_OF
    )
    assert (result.metrics["n_days"], result.metrics["mae"], result.metrics["persistence_mae"]) == (
        2,
        1.0,
        1.0,
    )


def test_no_production_model_asks_for_a_training_and_no_evaluation_is_insufficient_data(
    stored: Engine,
) -> None:
    none = monitor_model(stored, params_with(), None, AS_OF)
    assert (none.decision, none.reason, none.n_new_evaluations) == (
        RETRAIN,
        "no production model; 0 training(s) in the last 126 sessions < max_trainings 2",
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


# The retraining policy: the MAPE guard always fires (max_mape 1e-9), the trainings decide. Cooldown
# and budget are shown on the baseline in production (a request without the guard, which overrides them).
FIRING = {
    "min_evaluations": 2,
    "max_mape": 1e-9,
    "cooldown_sessions": 0,
    "max_trainings": 10,
    "fresh_evidence_sessions": 2,
}


def _trained(engine: Engine, *trainings: tuple[date, str]) -> None:
    """Gate decisions as the training pipeline's promote stage leaves them."""
    with engine.begin() as conn:
        for version, (as_of, decision) in enumerate(trainings, start=1):
            record_promotion(
                conn,
                PromotionRecord(
                    datetime.now(UTC), MODEL, f"run-{version}", version, None, decision, "gate", {}, as_of
                ),
            )


def _decide(engine: Engine, **monitoring: float) -> tuple[str, str, float]:
    result = monitor_model(engine, params_with(**{**FIRING, **monitoring}), PROD, AS_OF)
    return result.decision, result.reason, result.metrics.get("n_days", 0.0)


def _policy(engine: Engine, **monitoring: float) -> tuple[str, str]:
    result = monitor_model(engine, params_with(**{**FIRING, **monitoring}), PROD, AS_OF, baseline=True)
    return result.decision, result.reason


def test_cooldown_suppresses_a_retraining_within_n_sessions_of_any_training(stored: Engine) -> None:
    _trained(stored, (DAYS[3], PROMOTED), (DAYS[5], REJECTED))  # DAYS[5] lies after as_of: not yet
    decision, reason = _policy(stored, cooldown_sessions=2)
    assert decision == SUPPRESSED_COOLDOWN
    assert "; in cooldown: last training (as of 2012-06-06) 1 session(s) ago < cooldown_sessions 2" in reason
    assert reason.startswith(BASELINE_SERVES)  # the trigger's own reason comes first
    assert _policy(stored, cooldown_sessions=1)[0] == RETRAIN


def test_budget_limits_trainings_per_rolling_window(stored: Engine) -> None:
    _trained(stored, (date(2012, 5, 1), PROMOTED), (DAYS[0], PROMOTED))  # 26 and 4 sessions before as_of
    decision, reason = _policy(stored, max_trainings=2, max_trainings_window_sessions=27)
    assert decision == SUPPRESSED_BUDGET
    assert reason.endswith("training budget spent: 2 training(s) in the last 27 sessions >= max_trainings 2")
    decision, reason = _policy(stored, max_trainings=2, max_trainings_window_sessions=26)
    assert decision == RETRAIN and reason.endswith("1 training(s) in the last 26 sessions < max_trainings 2")
    assert _policy(stored, max_trainings=3, max_trainings_window_sessions=27)[0] == RETRAIN


def test_the_hard_guard_overrides_cooldown_and_budget_and_a_forced_version_is_no_training(
    stored: Engine,
) -> None:
    _trained(stored, (DAYS[3], PROMOTED))  # a real training one session before as_of
    with stored.begin() as conn:  # then a version forced into production: no training, no cooldown
        record_promotion(
            conn, PromotionRecord(datetime.now(UTC), MODEL, PROD, 2, 1, FORCED, "forced", {}, DAYS[4])
        )
    assert _policy(stored, cooldown_sessions=2)[0] == SUPPRESSED_COOLDOWN  # only the training counts
    decision, reason, _ = _decide(stored, cooldown_sessions=2)
    assert decision == RETRAIN
    assert reason.endswith(
        "; the hard guard overrides: in cooldown: last training (as of 2012-06-06) 1 session(s) ago "
        "< cooldown_sessions 2"
    )
    decision, reason, _ = _decide(stored, max_trainings=1)
    assert decision == RETRAIN and "the hard guard overrides: training budget spent" in reason
    assert _decide(stored, max_mape=50)[0] == OK  # no guard: the tests find nothing on this window


def test_the_hard_guard_fires_before_the_tests_have_min_evaluations(stored: Engine) -> None:
    decision, reason, n_days = _decide(stored, min_evaluations=10, window_days=20, guard_min_evaluations=4)
    assert (decision, n_days) == (RETRAIN, 4)
    assert (
        "(hard guard) over the last 4 evaluated day(s), before the tests' 4 evaluated day(s) < min_" in reason
    )
    waiting = _decide(stored, min_evaluations=10, window_days=20, guard_min_evaluations=5)
    assert waiting[0] == INSUFFICIENT_DATA


def test_after_a_rejected_candidate_only_fresh_sessions_count(stored: Engine) -> None:
    _trained(stored, (DAYS[0], PROMOTED), (DAYS[2], REJECTED))  # evaluated since: DAYS[3], DAYS[4]
    decision, reason, n_days = _decide(stored, fresh_evidence_sessions=3)
    assert decision == AWAITING_EVIDENCE and n_days == 4  # the whole window fires, but on spent evidence
    assert reason.endswith(
        "but the candidate trained as of 2012-06-05 was rejected and only 2 session(s) were evaluated since "
        "< fresh_evidence_sessions 3"
    )
    decision, reason, n_days = _decide(stored, fresh_evidence_sessions=2)
    assert (decision, n_days) == (RETRAIN, 2) and "over the last 2 evaluated day(s)" in reason
    _trained(stored, (DAYS[3], PROMOTED))  # a promoted candidate: its own evaluations are all fresh
    assert _decide(stored, fresh_evidence_sessions=20, window_days=20)[0] == RETRAIN


def test_the_baseline_in_production_asks_for_a_training_within_the_policy(stored: Engine) -> None:
    _trained(stored, (DAYS[3], REJECTED))  # the first candidate lost to persistence, which now serves
    held = monitor_model(stored, params_with(cooldown_sessions=2), PROD, AS_OF, baseline=True)
    assert held.decision == SUPPRESSED_COOLDOWN and held.reason.startswith(BASELINE_SERVES + "; in cooldown")
    asked = monitor_model(stored, params_with(cooldown_sessions=1), PROD, AS_OF, baseline=True)
    assert asked.decision == RETRAIN
    # its window's figures, but no test: persistence is not judged against itself
    assert asked.metrics["mae_ratio"] == 1 and asked.metrics["n_days"] == 4
    assert not {"dm_p_value", "direction_p_value", "loss_p_worse"} & set(asked.metrics)
    summary = monitor_card(asked)  # the run page's card says so, with the figures
    assert summary.startswith(f"# Monitor {AS_OF}: {RETRAIN}\n") and f"Reason: {BASELINE_SERVES}" in summary
    assert "| mae_ratio | 1 |" in summary and "| n_days | 4 |" in summary


def test_every_decision_is_stored_with_reason_and_statistics(stored: Engine) -> None:
    calls = (
        ({"min_evaluations": 5}, DAYS[4]),
        ({"min_evaluations": 4}, DAYS[4]),
        ({"min_evaluations": 1}, DAYS[1]),
    )
    results = [monitor_model(stored, params_with(**monitoring), PROD, day) for monitoring, day in calls]
    results.append(monitor_model(stored, params_with(), None, DAYS[5]))
    with stored.connect() as conn:
        log = decision_log(conn, MODEL)  # newest as-of day first; the rerun of DAYS[4] replaced the first
        assert [r.as_of_date for r in decision_log(conn, MODEL, end=DAYS[4], limit=1)] == [DAYS[4]]
        assert len(decision_log(conn, MODEL, start=DAYS[2])) == 2
    assert [(r.as_of_date, r.decision, r.reason, r.model_run_id) for r in log] == [
        (day, r.decision, r.reason, r.mlflow_run_id)
        for day, r in zip((DAYS[5], DAYS[4], DAYS[1]), (results[3], results[1], results[2]), strict=True)
    ]
    assert [r.decision for r in log] == [RETRAIN, OK, OK]
    assert log[0].statistics == {}
    assert log[1].statistics["dm_p_value"] == pytest.approx(0.5124786927596252)  # see CASES
    assert log[1].statistics == pytest.approx(results[1].metrics)
    assert log[2].statistics["dm_p_value"] is None  # one session: no DM test, stored as null
    assert "Diebold-Mariano needs 2 sessions" in log[2].reason
    assert results[0].decision == INSUFFICIENT_DATA


def test_a_model_worse_than_persistence_on_the_loss_test_is_flagged_for_demotion(stored: Engine) -> None:
    far = "run-far-off"  # +5% on every call: its log-return errors exceed persistence's every session
    now = datetime.now(UTC)
    with stored.begin() as conn:
        conn.execute(
            insert(latest_predictions),
            [
                {
                    "kind": "daily",
                    "model_run_id": far,
                    "model_version": "2",
                    "ticker": "AAA",
                    "as_of_date": DAYS[i],
                    "target_date": DAYS[i + 1],
                    "last_close": CLOSE[i],
                    "predicted_close": 1.05 * CLOSE[i],
                    "created_at": now,
                }
                for i in range(4)
            ],
        )
    result = monitor_model(stored, params_with(min_evaluations=4), far, AS_OF)
    model = np.abs(np.log(1.05 * np.array(CLOSE[:4]) / np.array(CLOSE[1:5])))
    persistence = np.abs(np.log(np.array(CLOSE[:4]) / np.array(CLOSE[1:5])))
    expected = diebold_mariano(model, persistence)
    assert expected.p_value < 0.05
    assert result.metrics["loss_p_worse"] == pytest.approx(expected.p_value)
    assert (result.decision, result.worse_than_persistence) == (RETRAIN, True)
    assert "log-return MAE" in result.reason and f"p {expected.p_value:.3g} < alpha 0.05" in result.reason
    # the stored predictions of the production model are not worse: no demotion
    assert not monitor_model(stored, params_with(min_evaluations=4), PROD, AS_OF).worse_than_persistence
