"""`train` on the real sample dataset: one MLflow run, a registered pt2 model holding the best epoch."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from sqlalchemy import select

from stockpredictor import registry
from stockpredictor.config import Settings
from stockpredictor.db.datasets import as_numpy_dates, load_processed, load_scaled
from stockpredictor.db.schema import latest_predictions
from stockpredictor.models import BASELINE_METRIC_NAMES, METRIC_NAMES, predict
from stockpredictor.registry_manifest import MANIFEST_PARAM, Manifest
from stockpredictor.stages.evaluation import forecast
from stockpredictor.stages.train import DEFAULT_HYPERPARAMETERS, hyperparameters_for
from tests.support.sample_dataset import MODEL_NAME, SampleStore, tiny_params, train_with

# A high learning rate makes the validation loss bounce: the best epoch is not the last one.
BOUNCY = {"learning_rate": 5e-2}


def _refuse_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any unrestricted unpickling fail; torch.load is allowed only with weights_only=True."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("something was unpickled")

    real_torch_load = torch.load

    def restricted_torch_load(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("weights_only") is not True:
            raise AssertionError("torch.load without weights_only=True")
        return real_torch_load(*args, **kwargs)

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", restricted_torch_load)


@pytest.mark.slow
def test_train_logs_registers_and_the_registered_model_holds_the_best_epoch(
    sample_store: SampleStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, run_id = sample_store.engine, sample_store.run_id
    result = train_with(engine, tiny_params(), settings, run_id, **BOUNCY)

    client = MlflowClient()
    run = client.get_run(result.mlflow_run_id)
    assert run.data.params["dataset_run_id"] == run_id and run.data.tags["dataset_run_id"] == run_id
    assert run.data.params["architecture"] == "lstm" and run.data.tags["hyperparameters_source"] == "optuna"
    epochs = int(result.metrics["epochs_trained"])
    best = int(result.metrics["best_epoch"])
    val_curve = [
        m.value for m in sorted(client.get_metric_history(run.info.run_id, "val_loss"), key=lambda m: m.step)
    ]
    assert (
        len(val_curve) == epochs and len(client.get_metric_history(run.info.run_id, "train_loss")) == epochs
    )
    assert 1 <= best < epochs, "precondition: the last epoch is not the best one"
    assert val_curve[best - 1] == pytest.approx(result.metrics["best_val_loss"]) == min(val_curve)
    for name in (*METRIC_NAMES, *BASELINE_METRIC_NAMES):
        assert np.isfinite(result.metrics[f"test_{name}"]), name
    assert "test_persistence_directional_accuracy" not in result.metrics  # persistence calls no move
    logged = client.get_run(run.info.run_id).data.metrics
    assert (
        logged["test_always_up_directional_accuracy"] == result.metrics["test_always_up_directional_accuracy"]
    )
    assert result.metrics["test_mae_ratio"] == pytest.approx(
        result.metrics["test_mae"] / result.metrics["test_persistence_mae"]
    )
    assert "(last move) |" in result.report_markdown and "(always up) |" in result.report_markdown
    assert "| mae |" in result.report_markdown and f"epoch {best} of {epochs}" in result.report_markdown

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {f"plots/{t}.png" for t in ("AAPL", "GOOG", "IBM", "MSFT")}
    plot = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="plots/IBM.png"))
    assert plot.read_bytes().startswith(b"\x89PNG")

    # Registry round trip on the embedded sqlite store: alias, URI, lineage, pickle-free load.
    assert result.model_version == 1
    assert registry.production_model(MODEL_NAME) is None
    registry.set_alias(MODEL_NAME, result.model_version)
    production = registry.production_model(MODEL_NAME)
    assert production is not None
    assert (production.model_uri, production.mlflow_run_id, production.dataset_run_id) == (
        f"models:/{MODEL_NAME}/1",
        result.mlflow_run_id,
        run_id,
    )
    assert run.info.status == "FINISHED"  # registered only once the run had ended
    manifest = Manifest.from_json(run.data.params[MANIFEST_PARAM])
    assert {f.path for f in manifest.files} >= {"MLmodel", "data/model.pt2"}
    _refuse_unpickling(monkeypatch)
    model, _ = registry.load_model(f"models:/{MODEL_NAME}@production")
    monkeypatch.undo()

    with engine.connect() as conn:
        dataset = load_scaled(conn, run_id)
        panel = load_processed(conn, run_id).panel
        stored = conn.execute(select(latest_predictions).order_by("as_of_date", "ticker")).all()
    # The loaded model is the best epoch's: its validation loss is the best one, not the last one.
    validation = dataset.windows("validation")
    _, y_val = validation.batch(np.arange(len(validation)))
    loaded_val_loss = float(np.nanmean((predict(model, validation).astype(np.float64) - y_val) ** 2))
    assert loaded_val_loss == pytest.approx(result.metrics["best_val_loss"], rel=1e-4)
    assert loaded_val_loss != pytest.approx(val_curve[-1], rel=1e-3)
    # ... and it reproduces the test-window predictions `train` stored.
    test = forecast(
        model,
        dataset.windows("test"),
        y_scaler=dataset.y_scaler,
        close=panel.close,
        dates=as_numpy_dates(panel.dates),
        tickers=panel.tickers,
        target="log_return",
    )
    assert len(stored) == dataset.split.test * 4
    assert {(r.kind, r.model_run_id, r.model_version) for r in stored} == {
        ("test", result.mlflow_run_id, None)  # stored before the run ended, so before registration
    }
    assert all(r.target_date > r.as_of_date for r in stored)
    np.testing.assert_allclose([r.predicted_close for r in stored], test.predicted.ravel(), rtol=1e-5)
    np.testing.assert_allclose([r.last_close for r in stored], test.last_close.ravel())


def test_without_optimization_results_train_uses_documented_defaults(
    sample_store: SampleStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        hyperparameters, source = hyperparameters_for(sample_store.engine, tiny_params(), sample_store.run_id)
    assert source == "defaults" and hyperparameters == {"architecture": "lstm", **DEFAULT_HYPERPARAMETERS}
    assert "no optimization result" in caplog.text
