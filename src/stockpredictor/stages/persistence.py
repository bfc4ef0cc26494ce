"""The persistence baseline in the registry: it takes `production` when no trained model beat it yet
(decision `baseline`) or when the monitor found the trained production model significantly worse than
persistence (decision `demoted`, with an alert).

It is registered as a version of the model (same input contract, pickle-free, tagged
`baseline=persistence`) and served through its exact forecast, the last close (`exact_persistence`).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import Engine

from stockpredictor import registry
from stockpredictor.config import Params
from stockpredictor.db.datasets import load_processed, load_scaled
from stockpredictor.db.events import record_event
from stockpredictor.db.model_manifests import record_manifest
from stockpredictor.db.promotions import PromotionRecord, record_promotion
from stockpredictor.registry import ModelVersionRef

log = logging.getLogger(__name__)

BASELINE, DEMOTED = "baseline", "demoted"


def demote(
    engine: Engine, params: Params, production: ModelVersionRef, as_of: date, evidence: str
) -> int | None:
    """The persistence baseline takes `production` from a trained version found worse than persistence.

    Recorded as decision `demoted` (with `evidence` as its reason) and as an alert; returns the
    baseline's version (None when the dataset's target has no fixed "no change" value).
    """
    reason = f"version {production.version} demoted to the persistence baseline: {evidence}"
    return install_baseline(
        engine, params, production.dataset_run_id, as_of, DEMOTED, reason, replaced=production.version
    )


def install_baseline(
    engine: Engine,
    params: Params,
    dataset_run_id: str,
    as_of: date,
    decision: str,
    reason: str,
    replaced: int | None = None,
) -> int | None:
    """Register persistence on `dataset_run_id`'s input contract and alias it `production`; its version.

    `decision` (`baseline` or `demoted`) and `reason` are recorded; a demotion of version `replaced`
    is also recorded as an alert. None (nothing registered) when the dataset's target has no fixed
    "no change" value.
    """
    with engine.connect() as conn:
        target = load_processed(conn, dataset_run_id).target
        dataset = load_scaled(conn, dataset_run_id)
    if target != "log_return":
        log.warning("no persistence baseline for target %r: production stays empty", target)
        return None
    # torch only here: the monitor step imports this module on every run and demotes rarely.
    from stockpredictor import registry_models
    from stockpredictor.models.baseline import PERSISTENCE, PersistenceForecaster

    name = params.train.model_name
    registry.use_experiment(params.train.experiment_name)
    tags = {"dataset_run_id": dataset_run_id, registry.BASELINE_TAG: PERSISTENCE}
    with registry.start_run(f"baseline-{dataset_run_id}") as run:
        run.set_tags(tags)
        run.log_params({"dataset_run_id": dataset_run_id, "target": target, "baseline": PERSISTENCE})
        example, _ = dataset.windows("train").batch(np.arange(2))
        logged = registry_models.log_model(PersistenceForecaster(dataset.y_scaler), example, metadata=tags)
    version = registry_models.register_version(logged, name, tags=tags)
    record = PromotionRecord(
        created_at=datetime.now(UTC),
        model_name=name,
        candidate_run_id=run.mlflow_run_id,
        candidate_version=version,
        production_version=replaced,
        decision=decision,
        reason=reason,
        metrics={},
        as_of_date=as_of,
    )
    with engine.begin() as conn:
        record_manifest(conn, logged.mlflow_run_id, logged.manifest)
        record_promotion(conn, record)
        if decision == DEMOTED:
            record_event(
                conn,
                DEMOTED,
                reason,
                {"demoted_version": replaced, "baseline_version": version, "as_of": str(as_of)},
            )
        registry.set_alias(name, version)
    log.info(
        "promote %s: persistence baseline registered as version %d and aliased production", name, version
    )
    return version
