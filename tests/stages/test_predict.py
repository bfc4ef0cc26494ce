"""predict on the shared replay's store: a rerun replaces its rows, a foreign window is refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stockpredictor.db.schema import latest_predictions
from stockpredictor.errors import InputWindowError
from stockpredictor.registry import model_info
from stockpredictor.stages.predict import predict
from stockpredictor.stages.prepare_input import prepare_input
from tests.support.replay import REPLAY_END, Replayed

pytestmark = pytest.mark.slow  # the shared replay trains models


def test_predict_rerun_replaces_and_a_foreign_window_is_refused(replayed: Replayed, tmp_path: Path) -> None:
    first_model = replayed.result.days[0].prediction
    assert first_model is not None
    prepared = prepare_input(
        replayed.engine, replayed.params, replayed.bootstrap.result.dataset_run_id, REPLAY_END, tmp_path
    )

    def stored() -> int:
        with replayed.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(latest_predictions)).scalar_one())

    before = stored()
    results = [
        predict(replayed.engine, replayed.params, replayed.settings, prepared.path, first_model.model_uri)
        for _ in range(2)
    ]
    assert results[0].predictions == results[1].predictions
    assert results[1].target_date == date(2012, 11, 23)
    assert stored() == before  # the replay already predicted this day with this model: replaced, not added

    retrained = replayed.trainings[-1].result
    newer = model_info(f"models:/{replayed.params.train.model_name}/{retrained.model_version}")
    with pytest.raises(InputWindowError, match="was prepared for dataset"):
        predict(replayed.engine, replayed.params, replayed.settings, prepared.path, newer.model_uri)
