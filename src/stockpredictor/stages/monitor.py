"""Stage `monitor`: evaluate matured predictions, then judge the production model on a rolling window.

Every daily prediction whose target day has an actual close (and is <= as_of) is logged once to
`model_performance_log`, whichever model made it. The decision looks only at the current production
model: its last `monitoring.window_days` evaluated target days (trading days, so weekends and
holidays never count). Fewer than `monitoring.min_evaluations` such days, or no production model,
is `insufficient_data`; any breached threshold is `retrain`; otherwise `ok`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import Engine

from stockpredictor import registry
from stockpredictor.config import MonitoringParams, Params, Settings
from stockpredictor.db.performance import log_evaluations, matured_predictions, recent_evaluations
from stockpredictor.models.metrics import price_metrics
from stockpredictor.stages.common import resolve_as_of

log = logging.getLogger(__name__)

RETRAIN = "retrain"
OK = "ok"
INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class MonitorResult:
    """The decision (`retrain` / `ok` / `insufficient_data`), why, and the window's metrics."""

    decision: str
    reason: str
    metrics: dict[str, float]
    n_new_evaluations: int
    mlflow_run_id: str | None = None


def monitor(engine: Engine, params: Params, settings: Settings, as_of: date | None = None) -> MonitorResult:
    """Evaluate matured predictions and decide for the registry's current production model."""
    as_of = resolve_as_of(as_of, params)  # a day that is not a completed session is refused first
    registry.use_tracking(settings)
    production = registry.production_model(params.train.model_name)
    return monitor_model(engine, params, production.mlflow_run_id if production else None, as_of)


def monitor_model(
    engine: Engine, params: Params, mlflow_run_id: str | None, as_of: date | None = None
) -> MonitorResult:
    """`monitor` with the production model's MLflow run id given (None: there is no production model)."""
    as_of = resolve_as_of(as_of, params)
    with engine.begin() as conn:
        added = log_evaluations(conn, matured_predictions(conn, as_of))
        window = (
            recent_evaluations(conn, mlflow_run_id, as_of, params.monitoring.window_days)
            if mlflow_run_id
            else []
        )
    log.info("monitor %s: %d new evaluations logged", as_of, added)
    if mlflow_run_id is None:
        return MonitorResult(INSUFFICIENT_DATA, "no production model", {}, added)
    n_days = len({e.target_date for e in window})
    if n_days == 0:
        return MonitorResult(
            INSUFFICIENT_DATA,
            f"no evaluated day for MLflow run {mlflow_run_id} yet",
            {},
            added,
            mlflow_run_id,
        )
    predicted, actual, last_close = (
        np.array([[getattr(e, name)] for e in window])
        for name in ("predicted_close", "actual_close", "last_close")
    )
    metrics = {
        **price_metrics(predicted, actual, last_close),
        "n_days": float(n_days),
        "n_evaluations": float(len(window)),
    }
    decision, reason = decide(metrics, params.monitoring)
    log.info("monitor %s: %s (%s)", as_of, decision, reason)
    return MonitorResult(decision, reason, metrics, added, mlflow_run_id)


def decide(metrics: dict[str, float], thresholds: MonitoringParams) -> tuple[str, str]:
    """Decision and reason from window metrics (keys of `price_metrics` plus `n_days`)."""
    n_days = int(metrics["n_days"])
    if n_days < thresholds.min_evaluations:
        return INSUFFICIENT_DATA, f"{n_days} evaluated day(s) < min_evaluations {thresholds.min_evaluations}"
    checks = [
        (
            metrics["mape"] > thresholds.max_mape,
            f"MAPE {metrics['mape']:.3f}% > max_mape {thresholds.max_mape}%",
        ),
        (
            metrics["directional_accuracy"] < thresholds.min_directional_accuracy,
            f"directional accuracy {metrics['directional_accuracy']:.3f} < min_directional_accuracy "
            f"{thresholds.min_directional_accuracy}",
        ),
        (
            metrics["mae_ratio"] > thresholds.max_mae_ratio_to_persistence,
            f"MAE {metrics['mae_ratio']:.3f}x persistence > max_mae_ratio_to_persistence "
            f"{thresholds.max_mae_ratio_to_persistence}",
        ),
    ]
    breaches = [text for breached, text in checks if breached]
    window = f"over the last {n_days} evaluated day(s)"
    if breaches:
        return RETRAIN, "; ".join(breaches) + f" {window}"
    return OK, (
        f"MAPE {metrics['mape']:.3f}%, directional accuracy {metrics['directional_accuracy']:.3f}, "
        f"MAE {metrics['mae_ratio']:.3f}x persistence {window}: within thresholds"
    )
