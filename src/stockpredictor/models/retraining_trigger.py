"""The retraining trigger: does a window of evaluated predictions show that the model is degraded?

It fires when, at level `monitoring.alpha`,
- the model's scale-free loss is significantly larger than persistence's (`models.loss`: absolute
  log-return errors, averaged over the tickers of each session, one-sided Diebold–Mariano test on the
  per-session losses, the very test the promotion gate applies), or
- its share of correct directions is significantly below the better of the "always up" and "last move"
  baselines over the same predictions (one-sided exact binomial test over the cells where the model
  calls a move; the predictions of one session are counted as independent calls),
or, as a hard guard without a test, when the window's MAPE exceeds `monitoring.max_mape`.
Fewer than `monitoring.min_evaluations` evaluated sessions is `insufficient_data` for the tests; the
guard already fires from `monitoring.guard_min_evaluations` sessions on (a broken model is replaced early).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stockpredictor.config import MonitoringParams
from stockpredictor.models.loss import LossComparison, significant, versus_persistence
from stockpredictor.models.metrics import price_metrics
from stockpredictor.models.retraining_policy import INSUFFICIENT_DATA, OK, RETRAIN
from stockpredictor.models.significance import TestResult, direction_test

BASELINE_LABELS = {"always_up": "always up", "last_move": "last move"}


@dataclass(frozen=True)
class EvaluatedWindow:
    """Matured predictions, one entry each: its target session and the prices around it.

    `previous_close` is the close of the session before the one of `last_close` (NaN when unknown:
    the prediction then takes no part in the direction test).
    """

    sessions: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
    last_close: np.ndarray
    previous_close: np.ndarray


@dataclass(frozen=True)
class Judgement:
    """The trigger's decision (`retrain` / `ok` / `insufficient_data`), why, and its statistics.

    `hard_guard`: the MAPE guard fired (the policy lets such a retraining override cooldown and budget).
    `worse_than_persistence`: the loss test found the model significantly worse than persistence (the
    evidence on which the monitor demotes it).
    """

    decision: str
    reason: str
    statistics: dict[str, float]
    hard_guard: bool = False
    worse_than_persistence: bool = False


def describe(window: EvaluatedWindow) -> dict[str, float]:
    """The window's figures without a test: `price_metrics`, evaluated days and predictions."""
    return {
        **price_metrics(
            *(a[:, None] for a in (window.predicted, window.actual, window.last_close, window.previous_close))
        ),
        "n_days": float(len(np.unique(window.sessions))),
        "n_evaluations": float(len(window.predicted)),
    }


def judge(window: EvaluatedWindow, rules: MonitoringParams) -> Judgement:
    """Decide on `window` (at least one prediction) with the tests and guard described in the module."""
    statistics = describe(window)
    n_days = int(statistics["n_days"])
    guard_from = min(rules.guard_min_evaluations, rules.min_evaluations)
    guard = n_days >= guard_from and statistics["mape"] > rules.max_mape
    relation = ">" if guard else "<="
    guard_text = f"MAPE {statistics['mape']:.3f}% {relation} max_mape {rules.max_mape}% (hard guard)"
    over = f"over the last {n_days} evaluated day(s)"
    if n_days < rules.min_evaluations:
        reason = f"{n_days} evaluated day(s) < min_evaluations {rules.min_evaluations}"
        if guard:
            return Judgement(RETRAIN, f"{guard_text} {over}, before the tests' {reason}", statistics, True)
        return Judgement(INSUFFICIENT_DATA, reason, statistics)
    loss = versus_persistence(window.sessions, window.predicted, window.actual, window.last_close)
    worse = significant(loss.p_worse, rules.alpha)
    direction, rates, best = _versus_direction_baselines(window)
    statistics.update(loss.as_metrics())
    statistics.update({"dm_statistic": loss.statistic, "dm_p_value": loss.p_worse})
    statistics.update(_as_statistics("direction", direction))
    statistics.update(rates)
    checks = [
        (guard, guard_text),
        (worse, _describe_loss(loss, rules.alpha)),
        (
            direction is not None and direction.significant(rules.alpha),
            _describe_direction(statistics, direction, best, rules.alpha),
        ),
    ]
    breaches = [text for breached, text in checks if breached]
    if breaches:
        return Judgement(RETRAIN, "; ".join(breaches) + f" {over}", statistics, guard, worse)
    return Judgement(
        OK, "no significant degradation: " + "; ".join(text for _, text in checks) + f" {over}", statistics
    )


def _versus_direction_baselines(
    window: EvaluatedWindow,
) -> tuple[TestResult | None, dict[str, float], str]:
    """Binomial test of the model's direction hits against the better baseline; hit rates; that baseline."""
    known = np.isfinite(window.previous_close) & (window.predicted != window.last_close)  # calls only
    actual_move = np.sign(window.actual[known] - window.last_close[known])
    hits = {
        "model": np.sign(window.predicted[known] - window.last_close[known]) == actual_move,
        "always_up": actual_move > 0,
        "last_move": np.sign(window.last_close[known] - window.previous_close[known]) == actual_move,
    }
    n = int(known.sum())
    if n == 0:
        return None, {"n_direction": 0.0}, ""
    rates = {name: float(h.mean()) for name, h in hits.items()}
    best = max(BASELINE_LABELS, key=lambda name: rates[name])
    statistics = {
        "n_direction": float(n),
        "direction_model_accuracy": rates["model"],
        **{f"direction_{name}_accuracy": rates[name] for name in BASELINE_LABELS},
    }
    return direction_test(int(hits["model"].sum()), n, rates[best]), statistics, best


def _as_statistics(prefix: str, result: TestResult | None) -> dict[str, float]:
    if result is None:
        return {f"{prefix}_statistic": math.nan, f"{prefix}_p_value": math.nan}
    return {f"{prefix}_statistic": result.statistic, f"{prefix}_p_value": result.p_value}


def _describe_loss(loss: LossComparison, alpha: float) -> str:
    ratio = f"log-return MAE {loss.ratio:.4f}x persistence"
    if math.isnan(loss.p_worse):
        return f"{ratio} (Diebold-Mariano needs 2 sessions)"
    relation = "<" if loss.p_worse < alpha else ">="
    return f"{ratio}, Diebold-Mariano {loss.statistic:.2f}, p {loss.p_worse:.3g} {relation} alpha {alpha:g}"


def _describe_direction(
    statistics: dict[str, float], result: TestResult | None, best: str, alpha: float
) -> str:
    if result is None:
        return "no direction test (no call with a known previous close)"
    relation = "<" if result.significant(alpha) else ">="
    return (
        f"directional accuracy {statistics['direction_model_accuracy']:.3f} vs {BASELINE_LABELS[best]} "
        f"{statistics[f'direction_{best}_accuracy']:.3f} (always up "
        f"{statistics['direction_always_up_accuracy']:.3f}, last move "
        f"{statistics['direction_last_move_accuracy']:.3f}) on {int(statistics['n_direction'])} calls, "
        f"binomial p {result.p_value:.3g} {relation} alpha {alpha:g}"
    )
