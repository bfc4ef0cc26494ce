"""prepare-input on the replay's store: parity with the training rows, stale or missing data refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from stockpredictor.db.datasets import as_numpy_dates, load_processed, load_scaled
from stockpredictor.errors import StaleDataError, UsageError
from stockpredictor.stages.files import load_input
from stockpredictor.stages.prepare_input import prepare_input
from tests.support.replay import REPLAY_END, REPLAY_START, TICKERS, Replayed

pytestmark = pytest.mark.slow  # the shared replay trains models


# Serving reads warmup_days + sequence_length days of history: for these days that starts a year after
# the dataset's first day, so the EWM indicators (RSI, MACD, ATR) really have to have converged.
@pytest.mark.parametrize("as_of", [date(2012, 6, 29), REPLAY_START])  # inside the dataset, its last day
def test_parity_serving_window_equals_the_training_window(
    replayed: Replayed, tmp_path: Path, as_of: date
) -> None:
    dataset_run_id = replayed.bootstrap.result.dataset_run_id
    with replayed.engine.connect() as conn:
        processed = load_processed(conn, dataset_run_id)
        scaled = load_scaled(conn, dataset_run_id)
    prepared = prepare_input(replayed.engine, replayed.params, dataset_run_id, as_of, tmp_path)
    window, sidecar = load_input(prepared.path)

    end = as_numpy_dates(processed.panel.dates).index(as_of)
    length = scaled.sequence_length
    features = len(processed.panel.feature_columns)
    assert window.shape == (1, length, len(TICKERS), features + 1) and window.dtype == np.float32
    np.testing.assert_allclose(
        window[0, ..., :features], scaled.x_scaled[end - length + 1 : end + 1], rtol=0, atol=1e-6
    )
    assert (window[0, ..., features] == 1.0).all() and sidecar["stale"] == {}  # every ticker present
    assert sidecar["last_day"] == as_of.isoformat() == prepared.last_day.isoformat()
    assert sidecar["last_close"] == dict(
        zip(processed.panel.tickers, processed.panel.close[end].tolist(), strict=True)
    )


def test_a_window_ends_on_the_last_session_and_data_older_than_it_is_refused(
    replayed: Replayed, tmp_path: Path
) -> None:
    dataset_run_id = replayed.bootstrap.result.dataset_run_id
    with pytest.raises(
        UsageError, match=r"2012-11-22 is not an NYSE session .*the session before it is 2012-11-21"
    ):
        prepare_input(replayed.engine, replayed.params, dataset_run_id, date(2012, 11, 22), tmp_path)
    last = prepare_input(replayed.engine, replayed.params, dataset_run_id, REPLAY_END, tmp_path)
    assert last.last_day == REPLAY_END and last.stale == {}
    with pytest.raises(
        StaleDataError, match=r"session 2012-11-23 .*AAPL has no row for the session 2012-11-23"
    ):
        prepare_input(replayed.engine, replayed.params, dataset_run_id, date(2012, 11, 23), tmp_path)
    with pytest.raises(UsageError, match=r"as_of 2010-01-04 is before data.start \(2010-06-01\)"):
        prepare_input(replayed.engine, replayed.params, dataset_run_id, date(2010, 1, 4), tmp_path)
