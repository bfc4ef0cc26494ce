"""predict on the shared replay's store (no silent same-day replacement, a foreign window is refused)
and on a private sample store (a stale ticker is skipped, a window of another shape is refused)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from stockpredictor.config import DATA_DIR_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV
from stockpredictor.db.engine import make_engine
from stockpredictor.db.schema import latest_predictions, prediction_history
from stockpredictor.errors import InputWindowError, OverwriteRefusedError, StaleDataError
from stockpredictor.registry import model_info
from stockpredictor.stages.files import load_input, save_input
from stockpredictor.stages.predict import predict
from stockpredictor.stages.prepare_input import prepare_input
from tests.support.cli import invoke, key_output
from tests.support.replay import REPLAY_END, Replayed
from tests.support.sample_dataset import BOTH_STORES, LATEST, delete_ticker_days, tiny_params
from tests.support.trained_model import Trained

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


def test_a_ticker_without_the_last_session_is_reported_stale_and_the_others_predicted(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gap = date(2007, 6, 20)
    params, sample_store, settings = tiny_params(), trained.store, trained.settings
    model_uri = f"models:/{params.train.model_name}/{trained.result.model_version}"
    delete_ticker_days(sample_store.engine, "IBM", [gap])

    prepared = prepare_input(sample_store.engine, params, sample_store.run_id, gap, tmp_path)
    assert prepared.last_day == gap and prepared.stale == {"IBM": "has no row for the session 2007-06-20"}
    result = predict(sample_store.engine, params, settings, prepared.path, model_uri)
    assert [p.ticker for p in result.predictions] == ["AAPL", "GOOG", "MSFT"]
    assert result.target_date == date(2007, 6, 21) and result.stale == prepared.stale
    assert json.loads(result.json_path.read_text())["stale"] == prepared.stale
    with sample_store.engine.connect() as conn:
        stored = conn.execute(
            select(latest_predictions.c.ticker, latest_predictions.c.target_date).where(
                latest_predictions.c.kind == "daily"
            )
        ).all()
    assert sorted(stored) == [(t, date(2007, 6, 21)) for t in ("AAPL", "GOOG", "MSFT")]

    for name, value in (
        (DATABASE_URL_ENV, settings.database_url),
        (MLFLOW_URI_ENV, settings.mlflow_tracking_uri),
        (DATA_DIR_ENV, str(settings.data_dir)),
    ):
        monkeypatch.setenv(name, value)
    shown = invoke(
        "predict", "--input-sequence-path", str(prepared.path), "--production-model-uri", model_uri
    )
    assert key_output(shown) == str(result.json_path)
    assert "stale, not predicted: IBM has no row for the session 2007-06-20" in shown.stderr

    later = prepare_input(sample_store.engine, params, sample_store.run_id, date(2007, 6, 22), tmp_path)
    assert later.stale == {"IBM": "is absent on 1 session(s) of its window (2007-06-20)"}
    with pytest.raises(
        StaleDataError, match="no ticker has a complete window ending on the session 2007-07-02"
    ):
        prepare_input(sample_store.engine, params, sample_store.run_id, date(2007, 7, 2), tmp_path)


@pytest.mark.parametrize("trained", BOTH_STORES, indirect=True)
def test_a_window_of_another_shape_is_refused_in_one_line(trained: Trained, tmp_path: Path) -> None:
    params, sample_store, settings = tiny_params(), trained.store, trained.settings
    prepared = prepare_input(sample_store.engine, params, sample_store.run_id, LATEST, tmp_path)
    window, sidecar = load_input(prepared.path)
    save_input(prepared.path, window[..., :-1], sidecar)  # an input without the presence channel
    with pytest.raises(
        InputWindowError, match=r"does not fit StockPricePredictorLSTM version 1, which takes"
    ):
        predict(
            sample_store.engine,
            params,
            settings,
            prepared.path,
            f"models:/{params.train.model_name}/{trained.result.model_version}",
        )
