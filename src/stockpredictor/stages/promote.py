"""Stage `promote`: the gate between a newly trained version and the `production` alias.

The candidate, the current production model and persistence (tomorrow's close = today's) are scored
on the SAME most recent `promotion.window_days` trading days of raw data up to as_of, each model
through its own dataset's tickers, feature columns and scalers (on the days and tickers both models
cover). The candidate is promoted only when

- its MAE <= persistence MAE x (1 + `promotion.persistence_tolerance`), and
- its MAE <= production MAE x (1 - `promotion.min_improvement`) (skipped for the first model), and
- its prediction intervals on that window (the volatility forecasts and the calibration it would
  start from) do not cover significantly less than their level (Kupiec's test at
  `promotion.coverage_alpha`; 0 turns it off).

A production model whose logged input shape does not fit its windows (one trained before the inputs
had a presence channel) cannot be scored: the candidate is then judged as a first model and the
reason says why. `force=True` sets the alias without the gate (rollback). A version whose MLflow run
is not FINISHED (a training that crashed or was killed after registering) is rejected, forced or
not. Every decision, with its numbers, is appended to `model_promotions` and set as `promotion_*`
tags on the candidate's version and run.

When the first candidate fails the gate, the persistence forecaster is registered as a version of the
same model (same input contract, pickle-free, tagged `baseline=persistence`) and holds production
(decision `baseline`), so the daily pipeline always predicts; a later candidate must beat it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine

from stockpredictor import registry
from stockpredictor.config import Params, PromotionParams, Settings
from stockpredictor.db.datasets import load_processed, load_scaled
from stockpredictor.db.promotions import PromotionRecord, record_promotion
from stockpredictor.errors import InputWindowError, UsageError
from stockpredictor.models import BASELINE_METRIC_NAMES, METRIC_NAMES
from stockpredictor.models.baseline import PERSISTENCE, PersistenceForecaster
from stockpredictor.registry import ModelVersionRef
from stockpredictor.stages.common import resolve_as_of
from stockpredictor.stages.evaluation import PricePredictions, on_common_cells, recent_forecasts
from stockpredictor.stages.ranges import gate_coverage

log = logging.getLogger(__name__)

PROMOTED, REJECTED, FORCED, BASELINE = "promoted", "rejected", "forced", "baseline"


@dataclass(frozen=True)
class PromotionResult:
    """The decision (`promoted` | `rejected` | `forced`), why, and the numbers behind it."""

    decision: str
    promoted: bool
    reason: str
    candidate_version: int
    production_version: int | None
    metrics: dict[str, float]


def gate(
    metrics: dict[str, float], rules: PromotionParams, has_production: bool, coverage_alpha: float = 0.0
) -> tuple[bool, str]:
    """Apply the promotion rules to `candidate_mae`, `persistence_mae` and `production_mae`, then the
    candidate's interval coverage (below its level with `gate_kupiec_p_*` < `coverage_alpha`: refused)."""
    promoted, reason = _gate_mae(metrics, rules, has_production)
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


def _gate_mae(metrics: dict[str, float], rules: PromotionParams, has_production: bool) -> tuple[bool, str]:
    candidate, persistence = metrics["candidate_mae"], metrics["persistence_mae"]
    limit = persistence * (1 + rules.persistence_tolerance)
    versus_persistence = (
        f"candidate MAE {candidate:.4f} {'<=' if candidate <= limit else '>'} "
        f"persistence MAE {persistence:.4f} "
        f"x (1 + persistence_tolerance {rules.persistence_tolerance:g}) = {limit:.4f}"
    )
    if candidate > limit:
        return False, f"worse than persistence: {versus_persistence}"
    if not has_production:
        return True, f"first model, passes the persistence check: {versus_persistence}"
    production = metrics["production_mae"]
    needed = production * (1 - rules.min_improvement)
    versus_production = (
        f"candidate MAE {candidate:.4f} {'<=' if candidate <= needed else '>'} "
        f"production MAE {production:.4f} "
        f"x (1 - min_improvement {rules.min_improvement:g}) = {needed:.4f}"
    )
    if candidate > needed:
        return False, f"not better than production: {versus_production}"
    return True, f"better than production: {versus_production}; {versus_persistence}"


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
            metrics, params.promotion, "production_mae" in metrics, params.promotion.coverage_alpha
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
        baseline = _install_baseline(engine, params, candidate.dataset_run_id, day)
        if baseline is not None:
            reason += f"; the persistence baseline (version {baseline}) holds production"
    return PromotionResult(decision, promoted, reason, candidate.version, record.production_version, metrics)


def _install_baseline(engine: Engine, params: Params, dataset_run_id: str, as_of: date) -> int | None:
    """Register persistence on `dataset_run_id`'s input contract and alias it `production`; its version.

    None (nothing registered) when the dataset's target has no fixed "no change" value.
    """
    with engine.connect() as conn:
        target = load_processed(conn, dataset_run_id).target
        dataset = load_scaled(conn, dataset_run_id)
    if target != "log_return":
        log.warning("no persistence baseline for target %r: production stays empty", target)
        return None
    name = params.train.model_name
    registry.use_experiment(params.train.experiment_name)
    tags = {"dataset_run_id": dataset_run_id, registry.BASELINE_TAG: PERSISTENCE}
    with registry.start_run(f"baseline-{dataset_run_id}") as run:
        run.set_tags(tags)
        run.log_params({"dataset_run_id": dataset_run_id, "target": target, "baseline": PERSISTENCE})
        example, _ = dataset.windows("train").batch(np.arange(2))
        logged = registry.log_model(PersistenceForecaster(dataset.y_scaler), example, metadata=tags)
    version = registry.register_version(logged, name, tags=tags)
    record = PromotionRecord(
        created_at=datetime.now(UTC),
        model_name=name,
        candidate_run_id=run.mlflow_run_id,
        candidate_version=version,
        production_version=None,
        decision=BASELINE,
        reason="no trained model beat persistence yet: the persistence baseline serves production",
        metrics={},
        as_of_date=as_of,
    )
    with engine.begin() as conn:
        record_promotion(conn, record)
        registry.set_alias(name, version)
    log.info(
        "promote %s: persistence baseline registered as version %d and aliased production", name, version
    )
    return version


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

    def forecasts(version: ModelVersionRef) -> PricePredictions:
        loaded = registry.load_model(version.model_uri)
        return recent_forecasts(
            conn,
            loaded.model,
            version.dataset_run_id,
            params,
            as_of,
            params.promotion.window_days,
            input_shape=loaded.input_shape,
        )

    current: PricePredictions | None = None
    left_out = ""
    with engine.connect() as conn:
        scored = forecasts(candidate)
        if production is not None:
            try:
                current = forecasts(production)
            except InputWindowError as exc:
                left_out = f"production version {production.version} cannot be scored ({exc}); "
    if current is not None:
        scored, current = on_common_cells(scored, current)
    with engine.connect() as conn:
        coverage = gate_coverage(conn, params, scored, str(candidate.version))
    candidate_metrics = scored.metrics()
    metrics = {
        **{f"candidate_{k}": candidate_metrics[k] for k in (*METRIC_NAMES, "mae_ratio")},
        **{k: candidate_metrics[k] for k in BASELINE_METRIC_NAMES},
        **coverage,
    }
    if current is not None:
        production_metrics = current.metrics()
        metrics.update({f"production_{k}": production_metrics[k] for k in (*METRIC_NAMES, "mae_ratio")})
    window = {
        "first": scored.target_dates[0].isoformat(),
        "last": scored.target_dates[-1].isoformat(),
        "n_days": len(scored.target_dates),
        "tickers": list(scored.tickers),
    }
    metrics.update({"n_days": float(len(scored.target_dates)), "n_tickers": float(len(scored.tickers))})
    return metrics, window, left_out
