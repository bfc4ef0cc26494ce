"""The retraining trigger fires on significant evidence only, and says which test fired with its p-value."""

from __future__ import annotations

import numpy as np
import pytest

from stockpredictor.models.retraining_policy import INSUFFICIENT_DATA, OK, RETRAIN
from stockpredictor.models.retraining_trigger import EvaluatedWindow, judge
from tests.support.overrides import repo_params

RULES = repo_params("monitoring.window_days=40", "monitoring.min_evaluations=40").monitoring
DAYS = 40


def _window(predicted_offset: np.ndarray, actual_move: np.ndarray, last_move: np.ndarray) -> EvaluatedWindow:
    """One ticker at 100 each day; the previous close and the actual close move by the given steps."""
    last = np.full(DAYS, 100.0)
    return EvaluatedWindow(
        sessions=np.arange(DAYS),
        predicted=last + predicted_offset,
        actual=last + actual_move,
        last_close=last,
        previous_close=last - last_move,
    )


def test_a_model_much_worse_than_persistence_fires_the_loss_test() -> None:
    rng = np.random.default_rng(1)
    moves = rng.normal(0, 1, DAYS)
    judgement = judge(_window(moves + np.sign(moves) * 3, moves, moves), RULES)  # right direction, far off
    assert judgement.decision == RETRAIN
    assert judgement.statistics["dm_p_value"] < 1e-6
    assert "Diebold-Mariano" in judgement.reason and "< alpha 0.05" in judgement.reason
    assert "binomial" not in judgement.reason  # the direction test did not fire


def test_a_model_that_always_calls_the_wrong_direction_fires_the_direction_test() -> None:
    moves = np.where(np.arange(DAYS) % 2 == 0, 1.0, -1.0)
    judgement = judge(_window(-0.01 * moves, moves, -moves), RULES)  # tiny errors, always wrong sign
    assert judgement.decision == RETRAIN
    assert judgement.statistics["direction_model_accuracy"] == 0.0
    assert judgement.statistics["direction_last_move_accuracy"] == 0.0
    assert judgement.statistics["direction_always_up_accuracy"] == 0.5
    assert judgement.statistics["direction_p_value"] == pytest.approx(0.5**DAYS)
    assert (
        "accuracy 0.000 vs always up 0.500 (always up 0.500, last move 0.000) on 40 calls, "
        in judgement.reason
    )
    assert "binomial p 9.09e-13 < alpha 0.05" in judgement.reason  # (its errors also beat no persistence)


def test_a_coin_flip_close_to_persistence_is_ok() -> None:
    rng = np.random.default_rng(2)
    moves = rng.normal(0, 1, DAYS)
    guesses = 0.01 * rng.choice([-1.0, 1.0], DAYS)  # persistence never calls a move: it would fail here
    judgement = judge(_window(guesses, moves, rng.normal(0, 1, DAYS)), RULES)
    assert judgement.decision == OK, judgement.reason
    assert judgement.reason.startswith("no significant degradation: MAPE")


def test_the_hard_guard_fires_from_guard_min_evaluations_on_before_the_tests_may_run() -> None:
    rules = repo_params("monitoring.window_days=40", "monitoring.min_evaluations=10").monitoring
    far_off = _window(np.full(DAYS, 30.0), np.ones(DAYS), np.ones(DAYS))  # MAPE about 29.7%
    early = judge(_slice(far_off, rules.guard_min_evaluations), rules)
    assert (early.decision, early.hard_guard) == (RETRAIN, True)
    assert early.reason.endswith(
        "(hard guard) over the last 2 evaluated day(s), before the tests' 2 evaluated day(s) "
        "< min_evaluations 10"
    )
    assert "dm_p_value" not in early.statistics  # the tests did not run
    assert judge(_slice(far_off, 1), rules).decision == INSUFFICIENT_DATA
    all_tests_run = repo_params("monitoring.min_evaluations=1").monitoring  # guard_min_evaluations 2
    assert judge(_slice(far_off, 1), all_tests_run).hard_guard  # the guard never waits longer than the tests
    fine = _window(np.full(DAYS, 0.5), np.ones(DAYS), np.ones(DAYS))  # MAPE about 0.5%: no guard
    assert judge(_slice(fine, 2), rules).decision == INSUFFICIENT_DATA


def _slice(window: EvaluatedWindow, n: int) -> EvaluatedWindow:
    return EvaluatedWindow(*(getattr(window, f)[:n] for f in EvaluatedWindow.__dataclass_fields__))
