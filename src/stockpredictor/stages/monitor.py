"""Stage `monitor`: evaluate matured predictions, judge the production model, and ration retraining.

1. Every daily prediction whose target day has an actual close (and is <= as_of) is logged once to
   `model_performance_log`, whichever model made it.
2. The trigger (`models.retraining_trigger`) judges the production model's last
   `monitoring.window_days` evaluated sessions: significance tests against persistence and the
   direction baselines, MAPE as a hard guard. After a rejected candidate only the sessions evaluated
   since that training count, and fewer than `monitoring.fresh_evidence_sessions` of them make a
   firing trigger `awaiting_evidence`. No production model at all, or the persistence baseline in
   production, asks for a training.
3. Demotion on evidence: when the loss test finds a trained production model significantly worse
   than persistence (the gate's own test, on the window judged), the persistence baseline takes
   `production` at once (decision `demoted` in `model_promotions`, with an alert); a retraining the
   trigger asks for then has to beat persistence to replace it.
4. The served intervals are calibrated with the matured forecasts and scored (`stages.ranges`): a
   coverage breach (Kupiec's test against the nominal level) is alerted and decides `recalibrate`,
   or `retrain` when a recent recalibration did not restore coverage (a point-forecast retraining
   stands).
5. A retraining the trigger asks for passes the policy (`models.retraining_policy`: cooldown and
   budget, over the trainings in `model_promotions`; forced versions are no trainings) or is
   `suppressed_cooldown` / `suppressed_budget`, unless the MAPE hard guard fired, which overrides both.

Every decision is appended to `monitor_decisions` with its reason and statistics, in the transaction
that logs the evaluations.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import Connection, Engine

from stockpredictor import registry
from stockpredictor.calendar import trading_days_after
from stockpredictor.config import Params, Settings
from stockpredictor.db.events import record_event
from stockpredictor.db.monitor_decisions import MonitorDecisionRecord, record_decision
from stockpredictor.db.performance import Evaluation, log_evaluations, matured_predictions, recent_evaluations
from stockpredictor.db.prices import previous_session_closes
from stockpredictor.db.promotions import REJECTED, trainings
from stockpredictor.models.retraining_policy import (
    AWAITING_EVIDENCE,
    INSUFFICIENT_DATA,
    OK,
    RETRAIN,
    PastTraining,
    evidence_since,
    ration,
)
from stockpredictor.models.retraining_trigger import EvaluatedWindow, Judgement, describe, judge
from stockpredictor.stages.common import resolve_as_of
from stockpredictor.stages.persistence import demote
from stockpredictor.stages.ranges import check_coverage

__all__ = ["INSUFFICIENT_DATA", "OK", "RETRAIN", "MonitorResult", "monitor", "monitor_model"]

log = logging.getLogger(__name__)

NO_PRODUCTION_MODEL = "no production model"
COVERAGE = "coverage"  # the alert of a coverage breach
BASELINE_SERVES = "the persistence baseline serves production (no trained model beat it yet)"


@dataclass(frozen=True)
class MonitorResult:
    """The decision (one of `retraining_policy.DECISIONS`), why, and the window's statistics."""

    decision: str
    reason: str
    metrics: dict[str, float]
    n_new_evaluations: int
    as_of: date  # the session judged
    mlflow_run_id: str | None = None
    worse_than_persistence: bool = False  # the loss test found the judged model significantly worse
    demoted_to: int | None = None  # the baseline version that took production from it


def monitor(engine: Engine, params: Params, settings: Settings, as_of: date | None = None) -> MonitorResult:
    """Evaluate matured predictions and decide for the registry's current production model."""
    as_of = resolve_as_of(as_of, params)  # a day that is not a completed session is refused first
    registry.use_tracking(settings)
    registry.fail_dead_runs(params.train.experiment_name)
    production = registry.production_model(params.train.model_name)
    if production is None:
        return monitor_model(engine, params, None, as_of)
    result = monitor_model(engine, params, production.mlflow_run_id, as_of, production.baseline is not None)
    if not result.worse_than_persistence:
        return result
    baseline = demote(engine, params, production, as_of, f"the monitor found it worse: {result.reason}")
    if baseline is None:
        return result
    demoted = f"; version {production.version} demoted: the persistence baseline (version {baseline}) serves"
    return replace(result, reason=result.reason + demoted, demoted_to=baseline)


def monitor_model(
    engine: Engine,
    params: Params,
    mlflow_run_id: str | None,
    as_of: date | None = None,
    baseline: bool = False,
) -> MonitorResult:
    """`monitor` with the production model's MLflow run id given (None: there is no production model).

    `baseline`: the production model is the persistence baseline, which a trained model should replace.
    """
    as_of = resolve_as_of(as_of, params)
    with engine.begin() as conn:
        added = log_evaluations(conn, matured_predictions(conn, as_of))
        history = past_trainings(conn, params.train.model_name, as_of)
        if mlflow_run_id is None:
            judgement = Judgement(RETRAIN, NO_PRODUCTION_MODEL, {})
        else:
            judged = (
                Judgement(RETRAIN, BASELINE_SERVES, _described(conn, params, mlflow_run_id, as_of))
                if baseline
                else _judge_model(conn, params, mlflow_run_id, as_of, history)
            )
            judgement = _with_coverage(conn, judged, params, mlflow_run_id, as_of)
        if judgement.decision == RETRAIN:
            decision, allowed = ration(history, params.monitoring, judgement.hard_guard)
            judgement = replace(judgement, decision=decision, reason=f"{judgement.reason}; {allowed}")
        record_decision(
            conn,
            MonitorDecisionRecord(
                datetime.now(UTC),
                as_of,
                params.train.model_name,
                mlflow_run_id,
                judgement.decision,
                judgement.reason,
                dict(judgement.statistics),
            ),
        )
    log.info(
        "monitor %s: %d new evaluations logged; %s (%s)", as_of, added, judgement.decision, judgement.reason
    )
    metrics = {k: v for k, v in judgement.statistics.items() if not math.isnan(v)}  # tests that could not run
    return MonitorResult(
        judgement.decision,
        judgement.reason,
        metrics,
        added,
        as_of,
        mlflow_run_id,
        judgement.worse_than_persistence,
    )


def past_trainings(conn: Connection, model_name: str, as_of: date) -> list[PastTraining]:
    """The trainings of `model_name` on data up to `as_of`, with the sessions since each."""
    history = []
    for record in trainings(conn, model_name):
        day = record.as_of_date or record.created_at.date()
        if day <= as_of:
            history.append(PastTraining(day, trading_days_after(day, as_of), record.decision == REJECTED))
    return history


def _judge_model(
    conn: Connection, params: Params, mlflow_run_id: str, as_of: date, history: list[PastTraining]
) -> Judgement:
    """The trigger on the model's window; after a rejected candidate, on the sessions evaluated since."""
    rules = params.monitoring
    window = recent_evaluations(conn, mlflow_run_id, as_of, rules.window_days)
    since = evidence_since(history)
    fresh = [e for e in window if since is None or e.target_date > since]
    n_fresh = len({e.target_date for e in fresh})
    if since is not None and n_fresh < rules.fresh_evidence_sessions:
        judgement = _judge_window(conn, window, params)
        if judgement.decision != RETRAIN:
            return judgement
        return replace(
            judgement,
            decision=AWAITING_EVIDENCE,
            reason=f"{judgement.reason}; but the candidate trained as of {since} was rejected and only "
            f"{n_fresh} session(s) were evaluated since "
            f"< fresh_evidence_sessions {rules.fresh_evidence_sessions}",
        )
    return _judge_window(conn, fresh, params)


def _with_coverage(
    conn: Connection, judgement: Judgement, params: Params, mlflow_run_id: str, as_of: date
) -> Judgement:
    """The judgement with the interval statistics; a coverage breach recalibrates (or retrains) and alerts.

    A point-forecast retraining stands; otherwise a breach decides (see `stages.ranges.check_coverage`).
    """
    coverage = check_coverage(conn, params, mlflow_run_id, as_of)
    judged = replace(judgement, statistics={**judgement.statistics, **coverage.statistics})
    if coverage.action is None:
        return judged
    record_event(
        conn, COVERAGE, coverage.reason, {"as_of": as_of.isoformat(), "mlflow_run_id": mlflow_run_id}
    )
    if judgement.decision == RETRAIN:
        return judged
    return replace(judged, decision=coverage.action, reason=coverage.reason, hard_guard=False)


def _described(conn: Connection, params: Params, mlflow_run_id: str, as_of: date) -> dict[str, float]:
    """The figures of the model's window without a test (the persistence baseline is not tested
    against itself); none without an evaluated day."""
    window = recent_evaluations(conn, mlflow_run_id, as_of, params.monitoring.window_days)
    return describe(_evaluated(conn, window)) if window else {}


def _judge_window(conn: Connection, window: list[Evaluation], params: Params) -> Judgement:
    if not window:
        return Judgement(INSUFFICIENT_DATA, "no evaluated day of the production model yet", {})
    return judge(_evaluated(conn, window), params.monitoring)


def _evaluated(conn: Connection, window: list[Evaluation]) -> EvaluatedWindow:
    previous = previous_session_closes(conn, ((e.ticker, e.as_of_date) for e in window))
    return EvaluatedWindow(
        sessions=np.array([e.target_date.toordinal() for e in window]),
        predicted=np.array([e.predicted_close for e in window]),
        actual=np.array([e.actual_close for e in window]),
        last_close=np.array([e.last_close for e in window]),
        previous_close=previous,
    )
