"""Stage `promote`: the gate between a newly trained version and the `production` alias.

The candidate, the current production model and persistence (tomorrow's close = today's) are scored
on the SAME most recent `promotion.window_days` trading days of raw data up to as_of, each model
through its own dataset's tickers, feature columns and scalers (on the days and tickers both models
cover). A trained candidate is refitted on every window up to its dataset's as-of, so on the days up to
then it is scored on its walk-forward forecasts: those of its configuration trained before the test
windows (stored by `train` as test predictions); after them, and for a version without them (forced,
older), the registered model is run.
The loss is `models.loss`'s scale-free one (absolute log-return error, every ticker weighing the
same) and its test the one-sided Diebold–Mariano test the monitor applies. The candidate is promoted
only when

- its loss ratio to persistence <= 1 + `promotion.persistence_tolerance`, and it beats persistence
  significantly: p < `promotion.alpha` (1 asks for no evidence), and
- the same holds over the longer `promotion.evidence_days` (0: off) ending on the same day: an edge
  found on a few recent weeks alone is mostly luck (replays of 2008 and 2012 promoted three such
  candidates out of four, and each did worse than persistence once served), and
- its loss ratio <= production's x (1 - `promotion.min_improvement`) (skipped for the first model), and
- its prediction intervals on that window (the volatility forecasts and the calibration it would
  start from) do not cover significantly less than their level (Kupiec's test at
  `promotion.coverage_alpha`; 0 turns it off).

Price MAE, RMSE, MAPE and direction are recorded beside it. A production model whose logged input
shape does not fit its windows (one trained before the inputs had a presence channel) cannot be
scored: the candidate is then judged as a first model and the reason says why. `force=True` sets the
alias without the gate (rollback). A version whose MLflow run is not FINISHED (a training that crashed
or was killed after registering) is rejected, forced or not. Every decision, with its numbers, is
appended to `model_promotions` and set as `promotion_*` tags on the candidate's version and run.

When the first candidate fails the gate, the persistence forecaster is registered as a version of the
same model (same input contract, pickle-free, tagged `baseline=persistence`) and holds production
(decision `baseline`), so the daily pipeline always predicts; a later candidate must beat it. The
monitor `demote`s a trained production model it finds significantly worse than persistence the same
way (decision `demoted`, with an alert).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine

from stockpredictor import registry, registry_models
from stockpredictor.config import Params, PromotionParams, Settings
from stockpredictor.db.predictions import test_forecasts
from stockpredictor.db.promotions import PromotionRecord, record_promotion
from stockpredictor.errors import InputWindowError, UsageError
from stockpredictor.models import BASELINE_METRIC_NAMES, METRIC_NAMES
from stockpredictor.models.loss import significant
from stockpredictor.registry import ModelVersionRef
from stockpredictor.stages.common import resolve_as_of
from stockpredictor.stages.evaluation import PricePredictions, on_common_cells
from stockpredictor.stages.model_forecasts import recent_forecasts
from stockpredictor.stages.persistence import BASELINE, install_baseline
from stockpredictor.stages.ranges import gate_coverage

log = logging.getLogger(__name__)

PROMOTED, REJECTED, FORCED = "promoted", "rejected", "forced"


@dataclass(frozen=True)
class PromotionResult:
    """The decision (`promoted` | `rejected` | `forced`), why, and the numbers behind it (the finite ones:
    a "no call" directional accuracy or a test that could not run is left out)."""

    decision: str
    promoted: bool
    reason: str
    candidate_version: int
    production_version: int | None
    metrics: dict[str, float]


def gate(
    metrics: dict[str, float], rules: PromotionParams, has_production: bool, coverage_alpha: float = 0.0
) -> tuple[bool, str]:
    """Apply the promotion rules to the loss, then the candidate's interval coverage (below its level
    with `gate_kupiec_p_*` < `coverage_alpha`: refused)."""
    promoted, reason = _gate_loss(metrics, rules, has_production)
    tested = {
        k.removeprefix("gate_kupiec_p_"): p for k, p in metrics.items() if k.startswith("gate_kupiec_p_")
    }
    broken = {  # intervals too narrow: significantly below their level
        level: p
        for level, p in tested.items()
        if p < coverage_alpha and metrics[f"gate_coverage_{level}"] < float(level)
    }
    if not promoted or not broken:
        return promoted, reason
    return False, "its prediction intervals miss their level: " + ", ".join(
        f"{float(level):.0%} covered {metrics[f'gate_coverage_{level}']:.3f} (Kupiec p={p:.2g} < "
        f"coverage_alpha {coverage_alpha:g})"
        for level, p in broken.items()
    )


def _gate_loss(metrics: dict[str, float], rules: PromotionParams, has_production: bool) -> tuple[bool, str]:
    """Apply the promotion rules to `candidate_log_mae_ratio`, `candidate_loss_p_better` and
    `production_log_mae_ratio` (the scale-free loss ratios to persistence on the gate's cells)."""
    ratio, p_better = metrics["candidate_log_mae_ratio"], metrics["candidate_loss_p_better"]
    limit = 1 + rules.persistence_tolerance
    evidence = rules.alpha >= 1 or significant(p_better, rules.alpha)
    versus_persistence = (
        f"candidate log-return MAE {ratio:.4f}x persistence's "
        f"({'<=' if ratio <= limit else '>'} 1 + persistence_tolerance {rules.persistence_tolerance:g}), "
        f"Diebold-Mariano p {p_better:.3g} {'<' if evidence else '>='} alpha {rules.alpha:g}"
        + (" (no evidence asked)" if rules.alpha >= 1 else "")
    )
    if ratio > limit:
        return False, f"worse than persistence: {versus_persistence}"
    if not evidence:
        return False, f"not significantly better than persistence: {versus_persistence}"
    lasting, over_evidence = _lasting_edge(metrics, rules)
    versus_persistence += over_evidence
    if not lasting:
        return False, f"its edge does not last: {versus_persistence}"
    if not has_production:
        return True, f"first model, beats persistence: {versus_persistence}"
    production = metrics["production_log_mae_ratio"]
    needed = production * (1 - rules.min_improvement)
    versus_production = (
        f"candidate {ratio:.4f}x {'<=' if ratio <= needed else '>'} "
        f"production {production:.4f}x (1 - min_improvement {rules.min_improvement:g}) = {needed:.4f}x"
    )
    if ratio > needed:
        return False, f"not better than production: {versus_production}; {versus_persistence}"
    return True, f"better than production: {versus_production}; {versus_persistence}"


def _lasting_edge(metrics: dict[str, float], rules: PromotionParams) -> tuple[bool, str]:
    """Whether the candidate also beats persistence (within the tolerance, significantly) over the
    `evidence_days` window, and the figures that say so ("" with no such window or no evidence asked)."""
    if rules.evidence_days == 0 or rules.alpha >= 1:
        return True, ""
    ratio, p_better = metrics["candidate_evidence_log_mae_ratio"], metrics["candidate_evidence_loss_p_better"]
    lasting = ratio <= 1 + rules.persistence_tolerance and significant(p_better, rules.alpha)
    sessions = int(metrics["candidate_evidence_loss_sessions"])
    return lasting, (
        f"; over the last {sessions} sessions (evidence_days {rules.evidence_days}) {ratio:.4f}x, "
        f"p {p_better:.3g} {'<' if significant(p_better, rules.alpha) else '>='} alpha"
    )


def promote(
    engine: Engine,
    params: Params,
    settings: Settings,
    mlflow_run_id: str | None = None,
    version: int | None = None,
    force: bool = False,
    as_of: date | None = None,
) -> PromotionResult:
    """Decide on the version registered by `mlflow_run_id` (or `version`, or the newest one) and record it."""
    if mlflow_run_id and version is not None:
        raise UsageError("give either an MLflow run id or a version, not both")
    registry.use_tracking(settings)
    name = params.train.model_name
    if version is not None:
        candidate = registry.model_version(name, version)
    elif mlflow_run_id:
        candidate = registry.version_of_run(name, mlflow_run_id)
    else:
        candidate = registry.latest_version(name)
    production = registry.production_model(name)
    day = resolve_as_of(as_of, params)
    window: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    status = registry.run_status(candidate.mlflow_run_id)
    if status != registry.FINISHED:
        promoted, decision = False, REJECTED
        reason = (
            f"version {candidate.version} (MLflow run {candidate.mlflow_run_id}) did not finish training: "
            f"its run is {status}, only versions of {registry.FINISHED} runs are promoted"
        )
    elif force:
        promoted, decision = True, FORCED
        was = f"version {production.version}" if production else "no production model"
        reason = f"forced: alias {registry.PRODUCTION_ALIAS} set to version {candidate.version} (was {was})"
    elif production is not None and production.version == candidate.version:
        promoted, decision = False, REJECTED
        reason = f"version {candidate.version} already is the production model"
    else:
        metrics, window, left_out = _compare(engine, params, candidate, production, day)
        promoted, reason = gate(
            metrics, params.promotion, "production_log_mae_ratio" in metrics, params.promotion.coverage_alpha
        )
        decision = PROMOTED if promoted else REJECTED
        reason = (
            left_out + reason + f" (on {window['n_days']} trading days {window['first']}..{window['last']})"
        )
    record = PromotionRecord(
        created_at=datetime.now(UTC),
        model_name=name,
        candidate_run_id=candidate.mlflow_run_id,
        candidate_version=candidate.version,
        production_version=production.version if production else None,
        decision=decision,
        reason=reason,
        metrics={**metrics, **({"window": window} if window else {})},
        as_of_date=day,
    )
    with engine.begin() as conn:  # the decision is stored only if the alias change succeeded
        record_promotion(conn, record)
        if promoted:
            registry.set_alias(name, candidate.version)
    registry.tag_version(
        candidate,
        {
            "promotion_decision": decision,
            "promotion_reason": reason,
            "promotion_time": record.created_at.isoformat(),
            "promotion_metrics": json.dumps(record.metrics, sort_keys=True),
        },
    )
    log.info("promote %s version %d: %s: %s", name, candidate.version, decision, reason)
    if decision == REJECTED and production is None and window:  # gated, no model yet: persistence holds it
        baseline = install_baseline(
            engine,
            params,
            candidate.dataset_run_id,
            day,
            BASELINE,
            "no trained model beat persistence yet: the persistence baseline serves production",
        )
        if baseline is not None:
            reason += f"; the persistence baseline (version {baseline}) holds production"
    finite = {k: v for k, v in metrics.items() if math.isfinite(v)}  # no call, no test: left out
    return PromotionResult(decision, promoted, reason, candidate.version, record.production_version, finite)


def _compare(
    engine: Engine,
    params: Params,
    candidate: ModelVersionRef,
    production: ModelVersionRef | None,
    as_of: date,
) -> tuple[dict[str, float], dict[str, Any], str]:
    """Metrics of the candidate, persistence and production on the same recent window, that window, and
    why production was left out ("" when it was scored): a production model whose logged input shape
    does not fit its own windows (trained before inputs had a presence channel) cannot be scored."""

    def forecasts(version: ModelVersionRef, days: int) -> PricePredictions:
        loaded = registry_models.load_model(conn, version.model_uri)
        return recent_forecasts(
            conn,
            loaded.model,
            version.dataset_run_id,
            params,
            as_of,
            days,
            input_shape=loaded.input_shape,
            persistence_for=version.served_by_persistence,
        )

    rules = params.promotion
    current: PricePredictions | None = None
    left_out = ""
    with engine.connect() as conn:
        scored = forecasts(candidate, rules.scored_days)
        walk_forward = test_forecasts(conn, candidate.mlflow_run_id)
        if walk_forward:
            scored = scored.with_walk_forward(walk_forward)
        if production is not None:
            try:
                current = forecasts(production, rules.window_days)
            except InputWindowError as exc:
                left_out = f"production version {production.version} cannot be scored ({exc}); "
    evidence = scored.versus_persistence().as_metrics("candidate_evidence_") if rules.evidence_days else {}
    scored = scored.restricted(scored.target_dates[-rules.window_days :], scored.tickers)
    if current is not None:
        scored, current = on_common_cells(scored, current)
    with engine.connect() as conn:
        coverage = gate_coverage(conn, params, scored, str(candidate.version))
    candidate_metrics = scored.metrics()
    candidate_loss = scored.versus_persistence()
    metrics = {
        **{f"candidate_{k}": candidate_metrics[k] for k in (*METRIC_NAMES, "mae_ratio")},
        **{k: candidate_metrics[k] for k in BASELINE_METRIC_NAMES},
        **candidate_loss.as_metrics("candidate_"),
        **evidence,
        "persistence_log_mae": candidate_loss.persistence_log_mae,
        **coverage,
    }
    if current is not None:
        production_metrics = current.metrics()
        metrics.update({f"production_{k}": production_metrics[k] for k in (*METRIC_NAMES, "mae_ratio")})
        metrics.update(current.versus_persistence().as_metrics("production_"))
    window = {
        "first": scored.target_dates[0].isoformat(),
        "last": scored.target_dates[-1].isoformat(),
        "n_days": len(scored.target_dates),
        "tickers": list(scored.tickers),
        "candidate_forecasts": (
            f"walk-forward up to {max(d for _, d in walk_forward)}, then the registered model"
            if walk_forward
            else "the registered model"
        ),
    }
    metrics.update({"n_days": float(len(scored.target_dates)), "n_tickers": float(len(scored.tickers))})
    return metrics, window, left_out
