"""The retraining policy: whether a triggered retraining may start now (pure: past trainings in, verdict out).

- cooldown: no training within `monitoring.cooldown_sessions` sessions after any training;
- budget: at most `monitoring.max_trainings` trainings in any rolling `max_trainings_window_sessions`;
- a forced version (rollback or injection) is no training: it starts no cooldown and spends no budget;
- the MAPE hard guard (an obviously broken production model) overrides cooldown and budget;
- fresh evidence: after a rejected candidate, the trigger judges only the sessions evaluated after
  that training (`evidence_since`), and needs `fresh_evidence_sessions` of them.

Sessions are exchange sessions; the caller counts them (`PastTraining.sessions_ago`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from stockpredictor.config import MonitoringParams

RETRAIN = "retrain"
OK = "ok"
INSUFFICIENT_DATA = "insufficient_data"
SUPPRESSED_COOLDOWN = "suppressed_cooldown"
SUPPRESSED_BUDGET = "suppressed_budget"
AWAITING_EVIDENCE = "awaiting_evidence"
RECALIBRATE = "recalibrate"  # the intervals' coverage broke; their calibration was reset (no retraining)
DECISIONS = (
    RETRAIN,
    OK,
    INSUFFICIENT_DATA,
    SUPPRESSED_COOLDOWN,
    SUPPRESSED_BUDGET,
    AWAITING_EVIDENCE,
    RECALIBRATE,
)


@dataclass(frozen=True)
class PastTraining:
    """A training of a candidate: the last day of data it saw, sessions since then, and the gate's verdict."""

    as_of: date
    sessions_ago: int
    rejected: bool


def evidence_since(trainings: Sequence[PastTraining]) -> date | None:
    """The as-of day of the latest training when its candidate was rejected (older evidence is spent)."""
    if not trainings:
        return None
    latest = min(trainings, key=lambda t: t.sessions_ago)
    return latest.as_of if latest.rejected else None


def ration(
    trainings: Sequence[PastTraining], rules: MonitoringParams, hard_guard: bool = False
) -> tuple[str, str]:
    """`(RETRAIN, why allowed)`, or the suppressing decision (cooldown first, then budget) and why.

    `hard_guard`: the MAPE guard fired; a suppression is then overridden (the reason says so).
    """
    decision, reason = _ration(trainings, rules)
    if hard_guard and decision != RETRAIN:
        return RETRAIN, f"the hard guard overrides: {reason}"
    return decision, reason


def _ration(trainings: Sequence[PastTraining], rules: MonitoringParams) -> tuple[str, str]:
    if trainings:
        latest = min(trainings, key=lambda t: t.sessions_ago)
        if latest.sessions_ago < rules.cooldown_sessions:
            return SUPPRESSED_COOLDOWN, (
                f"in cooldown: last training (as of {latest.as_of}) {latest.sessions_ago} session(s) ago "
                f"< cooldown_sessions {rules.cooldown_sessions}"
            )
    window = rules.max_trainings_window_sessions
    recent = [t for t in trainings if t.sessions_ago < window]
    if len(recent) >= rules.max_trainings:
        return SUPPRESSED_BUDGET, (
            f"training budget spent: {len(recent)} training(s) in the last {window} sessions "
            f">= max_trainings {rules.max_trainings}"
        )
    return RETRAIN, (
        f"{len(recent)} training(s) in the last {window} sessions < max_trainings {rules.max_trainings}"
    )
