"""process then scale on the sample data, on real SQLite and PostgreSQL: a new dataset version per run."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import Engine

from stockpredictor.db.datasets import load_processed, load_scaled, load_scalers
from stockpredictor.errors import OverwriteRefusedError
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale
from tests.support.overrides import TWO_TICKERS, repo_params

AS_OF = date(2006, 6, 30)
PARAMS = repo_params(*TWO_TICKERS)


def test_process_then_scale_builds_a_versioned_dataset(engine: Engine) -> None:
    ingest(engine, PARAMS, AS_OF)
    result = process(engine, PARAMS, AS_OF)
    assert result.last_date <= AS_OF and result.tickers == ("AAPL", "IBM")
    scaled = scale(engine, PARAMS, result.dataset_run_id)
    with engine.connect() as conn:
        processed = load_processed(conn, result.dataset_run_id)
        dataset = load_scaled(conn, result.dataset_run_id)
    assert processed.panel.features.shape == (result.n_days, 2, len(PARAMS.features.indicators))
    assert dataset.split == scaled.split
    train = dataset.windows("train")
    x, _ = train.batch(np.arange(len(train)))
    assert x.min() >= 0.0 and x.max() <= 1.0 + 1e-6  # fitted on training days
    assert scaled.stored_bytes <= 2 * processed.panel.features.nbytes
    again = process(engine, PARAMS, AS_OF)
    assert again.dataset_run_id != result.dataset_run_id  # every process run is a new version
    with engine.connect() as conn:
        np.testing.assert_array_equal(
            load_processed(conn, again.dataset_run_id).panel.features, processed.panel.features
        )


def test_rescaling_changes_nothing_with_the_same_settings_and_is_refused_with_others(engine: Engine) -> None:
    ingest(engine, PARAMS, AS_OF)
    dataset_run_id = process(engine, PARAMS, AS_OF).dataset_run_id
    first = scale(engine, PARAMS, dataset_run_id)
    with engine.connect() as conn:
        scalers_before = load_scalers(conn, dataset_run_id)
    assert scale(engine, PARAMS, dataset_run_id) == first

    longer = repo_params(*TWO_TICKERS, "sequences.sequence_length=20")
    with pytest.raises(
        OverwriteRefusedError, match=f"dataset {dataset_run_id} is already scaled with sequence_length"
    ):
        scale(engine, longer, dataset_run_id)
    with engine.connect() as conn:
        scalers_after = load_scalers(conn, dataset_run_id)
        assert load_scaled(conn, dataset_run_id).sequence_length == PARAMS.sequences.sequence_length
    assert [s.to_json() for s in scalers_after] == [s.to_json() for s in scalers_before]
