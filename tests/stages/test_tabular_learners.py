"""The tabular families through the real stages on the sample store: a tiny search picks one, `train`
registers it pickle-free, the gate scores it, `predict` serves it; a later search is warm-started."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from mlflow import MlflowClient

from stockpredictor import registry_models
from stockpredictor.config import Settings
from stockpredictor.db.datasets import load_scalers
from stockpredictor.models.tabular import TabularForecaster
from stockpredictor.stages.files import load_input
from stockpredictor.stages.optimize import optimize
from stockpredictor.stages.optimize_study import WARM_START_ATTR, storage_for
from stockpredictor.stages.predict import predict
from stockpredictor.stages.prepare_input import prepare_input
from stockpredictor.stages.process import process
from stockpredictor.stages.promote import promote
from stockpredictor.stages.scale import scale
from stockpredictor.stages.train import train
from tests.support.sample_dataset import LATEST, SampleStore, tiny_params

TABULAR = ["optimize.architectures=[ridge,gbm]", "optimize.n_trials=3"]


def test_a_tiny_search_picks_a_family_that_train_registers_the_gate_scores_and_predict_serves(
    sample_store: SampleStore, settings: Settings, tmp_path: Path
) -> None:
    engine, dataset_run_id = sample_store.engine, sample_store.run_id
    params = tiny_params(*TABULAR)
    searched = optimize(engine, params, dataset_run_id)
    family = searched.best_params["architecture"]
    assert family in ("ridge", "gbm") and searched.n_complete == 3

    trained = train(engine, params, settings, dataset_run_id)
    run = MlflowClient().get_run(trained.mlflow_run_id)
    assert run.data.params["architecture"] == family and run.data.params["lags"] == str(
        searched.best_params["lags"]
    )
    assert np.isfinite(trained.metrics["test_mae"]) and trained.metrics["best_val_loss"] == pytest.approx(
        searched.best_value
    )
    decision = promote(engine, params, settings, mlflow_run_id=trained.mlflow_run_id, as_of=LATEST)
    assert decision.decision in ("promoted", "rejected")
    assert np.isfinite(decision.metrics["candidate_mae"]) and decision.metrics["n_days"] == 20

    model_uri = f"models:/{params.train.model_name}/{trained.model_version}"
    prepared = prepare_input(engine, params, dataset_run_id, LATEST, tmp_path)
    served = predict(engine, params, settings, prepared.path, model_uri)
    with engine.connect() as conn:
        loaded, _ = registry_models.load_model(conn, model_uri)
    assert isinstance(loaded, TabularForecaster) and loaded.tabular.family == family
    window, sidecar = load_input(prepared.path)
    with engine.connect() as conn:
        _, y_scaler = load_scalers(conn, dataset_run_id)
    returns = y_scaler.inverse_transform(loaded(torch.from_numpy(window)).numpy()[0])
    assert [p.ticker for p in served.predictions] == list(sidecar["tickers"])
    expected = [
        sidecar["last_close"][t] * np.exp(r) for t, r in zip(sidecar["tickers"], returns, strict=True)
    ]
    np.testing.assert_allclose([p.predicted_close for p in served.predictions], expected, rtol=1e-12)
    assert served.predictions[0].predicted_close != served.predictions[0].last_close  # it makes a call


def test_the_next_search_tries_the_previous_best_trials_first_and_runs_fewer_trials(
    sample_store: SampleStore,
) -> None:
    engine = sample_store.engine
    params = tiny_params(
        "optimize.architectures=[ridge]",
        "optimize.n_trials=5",
        "optimize.warm_start_trials=2",
        "optimize.warm_n_trials=3",
    )
    first = optimize(engine, params, sample_store.run_id)
    later = process(engine, params, date(2007, 3, 30)).dataset_run_id
    scale(engine, params, later)
    second = optimize(engine, params, later)

    storage = storage_for(engine)
    before = optuna.load_study(study_name=first.study_name, storage=storage)
    after = optuna.load_study(study_name=second.study_name, storage=storage)
    assert len(before.trials) == 5 and WARM_START_ATTR not in before.user_attrs
    best_two = [t.params for t in sorted(before.trials, key=lambda t: t.values[0])][:2]
    assert after.user_attrs[WARM_START_ATTR] == first.study_name
    assert [t.params for t in after.trials[:2]] == best_two
    assert [t.user_attrs.get(WARM_START_ATTR) for t in after.trials] == [first.study_name] * 2 + [None]
    assert second.n_complete == 3
