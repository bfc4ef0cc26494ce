"""Stage `scale`: chronological split and train-only min-max scaling of a processed dataset.

A dataset is scaled once: models trained on it are served through its scalers, so scaling it again
with settings that give other windows or scalers is refused (process a new dataset instead), and
scaling it again with the same settings changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from stockpredictor.config import Params
from stockpredictor.db.datasets import load_processed, save_scaled, scaled_nbytes, stored_scaling
from stockpredictor.db.engine import take_turns, write_transaction
from stockpredictor.errors import OverwriteRefusedError
from stockpredictor.features.sequences import ScaledDataset, Split, scale_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScaleResult:
    """The split of the dataset that was scaled and what storing it cost."""

    dataset_run_id: str
    sequence_length: int
    split: Split
    stored_bytes: int


def scale(engine: Engine, params: Params, dataset_run_id: str) -> ScaleResult:
    """Scale a dataset with scalers fitted on its training windows; store both under its `dataset_run_id`.

    Concurrent scales of one dataset take turns (`take_turns`): the later one finds the earlier one's
    scaling and changes nothing (same settings) or is refused (other settings).
    """
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
    with write_transaction(engine) as conn:
        take_turns(conn, "scale", dataset_run_id)
        stored = stored_scaling(conn, dataset_run_id)
        if stored is None:
            save_scaled(conn, dataset_run_id, dataset)
    if stored is None:
        log.info("scale %s: %s windows of %d days", dataset_run_id, dataset.split, dataset.sequence_length)
    else:
        _refuse_other_scaling(dataset_run_id, stored, dataset)
        log.info("scale %s: already scaled with these settings; nothing rewritten", dataset_run_id)
    return ScaleResult(dataset_run_id, dataset.sequence_length, dataset.split, scaled_nbytes(dataset))


def _refuse_other_scaling(
    dataset_run_id: str, stored: tuple[int, Split, dict[str, Any], dict[str, Any]], dataset: ScaledDataset
) -> None:
    sequence_length, split, x_scaler, y_scaler = stored
    if (sequence_length, split) != (dataset.sequence_length, dataset.split):
        raise OverwriteRefusedError(
            f"dataset {dataset_run_id} is already scaled with sequence_length {sequence_length} and "
            f"{split.train}/{split.validation}/{split.test} windows; these settings give "
            f"{dataset.sequence_length} and {dataset.split.train}/{dataset.split.validation}/"
            f"{dataset.split.test}: run `process` for a new dataset and scale that"
        )
    if (x_scaler, y_scaler) != (dataset.x_scaler.to_json(), dataset.y_scaler.to_json()):
        raise OverwriteRefusedError(
            f"dataset {dataset_run_id} is already scaled with other scalers, which its models use: "
            "run `process` for a new dataset and scale that"
        )
