"""The training pipeline as one function (process, scale, optimize, train, promote) for runs without KFP."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from stockpredictor.config import Params, Settings
from stockpredictor.stages.optimize import optimize
from stockpredictor.stages.process import process
from stockpredictor.stages.promote import PromotionResult, promote
from stockpredictor.stages.scale import scale
from stockpredictor.stages.train import train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingCycleResult:
    """What one pass of the training pipeline produced."""

    as_of: date
    dataset_run_id: str
    mlflow_run_id: str
    model_version: int
    promotion: PromotionResult
    persistence_tickers: tuple[str, ...] = ()  # tickers the trained version leaves to persistence


def run_training(engine: Engine, params: Params, settings: Settings, as_of: date) -> TrainingCycleResult:
    """Run the training pipeline's stages in order on the raw data up to `as_of`, as the KFP pipeline does."""
    dataset = process(engine, params, as_of)
    scale(engine, params, dataset.dataset_run_id)
    optimize(engine, params, dataset.dataset_run_id)
    trained = train(engine, params, settings, dataset.dataset_run_id)
    promotion = promote(engine, params, settings, mlflow_run_id=trained.mlflow_run_id, as_of=as_of)
    log.info(
        "training cycle %s: dataset %s, version %s, %s (%s)",
        as_of,
        dataset.dataset_run_id,
        trained.model_version,
        promotion.decision,
        promotion.reason,
    )
    return TrainingCycleResult(
        as_of,
        dataset.dataset_run_id,
        trained.mlflow_run_id,
        trained.model_version,
        promotion,
        trained.persistence_tickers,
    )
