"""Stage `scale`: chronological split and train-only min-max scaling of a processed dataset."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from stockpredictor.config import Params
from stockpredictor.db.datasets import load_processed, save_scaled, scaled_nbytes
from stockpredictor.features.sequences import Split, scale_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScaleResult:
    """The split of the dataset that was scaled and what storing it cost."""

    dataset_run_id: str
    sequence_length: int
    split: Split
    stored_bytes: int


def scale(engine: Engine, params: Params, dataset_run_id: str) -> ScaleResult:
    """Scale a dataset with scalers fitted on its training windows; store both under its `dataset_run_id`."""
    with engine.connect() as conn:
        processed = load_processed(conn, dataset_run_id)
    panel = processed.panel
    dataset = scale_dataset(
        panel.features,
        panel.targets,
        params.sequences.sequence_length,
        params.sequences.split.train,
        params.sequences.split.validation,
    )
    with engine.begin() as conn:
        save_scaled(conn, dataset_run_id, dataset)
    log.info("scale %s: %s windows of %d days", dataset_run_id, dataset.split, dataset.sequence_length)
    return ScaleResult(dataset_run_id, dataset.sequence_length, dataset.split, scaled_nbytes(dataset))
