"""predict on the shared replay's store: no silent same-day replacement; a foreign window is refused."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from stockpredictor.db.engine import make_engine
from stockpredictor.db.schema import latest_predictions, prediction_history
from stockpredictor.errors import InputWindowError, OverwriteRefusedError
from stockpredictor.registry import model_info
from stockpredictor.stages.predict import predict
from stockpredictor.stages.prepare_input import prepare_input
from tests.support.replay import REPLAY_END, Replayed

pytestmark = pytest.mark.slow  # the shared replay trains models


def test_predict_rerun_with_the_same_forecasts_changes_nothing_and_a_foreign_window_is_refused(
    replayed: Replayed, tmp_path: Path
) -> None:
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
    assert stored() == before  # the replay already predicted this day with this model: nothing added

    retrained = replayed.trainings[-1].result
    newer = model_info(f"models:/{replayed.params.train.model_name}/{retrained.model_version}")
    with pytest.raises(InputWindowError, match="was prepared for dataset"):
        predict(replayed.engine, replayed.params, replayed.settings, prepared.path, newer.model_uri)


def test_a_rerun_with_other_forecasts_needs_replace_and_keeps_the_served_ones(
    replayed: Replayed, tmp_path: Path
) -> None:
    store = tmp_path / "store.db"  # a copy: the shared replay stays as it was
    source = sqlite3.connect(replayed.settings.database_url.removeprefix("sqlite:///"))
    with closing(source), closing(sqlite3.connect(store)) as copy:
        source.backup(copy)
    engine = make_engine(f"sqlite:///{store}")
    last = replayed.result.days[-1].prediction
    assert last is not None
    with engine.begin() as conn:  # as if the day had been predicted from other data before
        conn.execute(
            update(latest_predictions)
            .where(latest_predictions.c.kind == "daily", latest_predictions.c.as_of_date == last.last_day)
            .values(predicted_close=latest_predictions.c.predicted_close + 1.0)
        )
    prepared = prepare_input(
        engine, replayed.params, replayed.bootstrap.result.dataset_run_id, REPLAY_END, tmp_path
    )
    settings = replace(replayed.settings, data_dir=tmp_path)
    with pytest.raises(OverwriteRefusedError, match="rerun with --replace"):
        predict(engine, replayed.params, settings, prepared.path, last.model_uri)
    assert not (settings.predictions_dir / "historical" / f"{last.last_day}.json").exists()

    result = predict(engine, replayed.params, settings, prepared.path, last.model_uri, replace=True)
    assert result.predictions == last.predictions
    with engine.connect() as conn:
        kept = conn.execute(select(func.count()).select_from(prediction_history)).scalar_one()
    assert kept == len(last.predictions)
    engine.dispose()
