"""`train` on the real sample dataset: one MLflow run, a registered pt2 model holding the best epoch."""

from __future__ import annotations

import logging
import math
import pickle
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import torch
from mlflow import MlflowClient
from sqlalchemy import Row, select

from stockpredictor import registry, registry_models
from stockpredictor.config import Settings
from stockpredictor.db.datasets import load_processed, load_scaled
from stockpredictor.db.model_manifests import recorded_manifest
from stockpredictor.db.schema import latest_predictions, raw_stock_data
from stockpredictor.models import (
    BASELINE_METRIC_NAMES,
    METRIC_NAMES,
    TrainConfig,
    build_model,
    model_spec,
    predict,
    refit,
)
from stockpredictor.registry_manifest import MANIFEST_PARAM, Manifest
from stockpredictor.stages.figures import SUMMARY
from stockpredictor.stages.train import DEFAULT_HYPERPARAMETERS, LOSS_CURVES, hyperparameters_for
from tests.support.sample_dataset import (
    BOTH_STORES,
    MODEL_NAME,
    SMALL_LSTM,
    SampleStore,
    tiny_params,
    train_with,
)

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


def _check_the_test_metrics_by_hand(
    stored: Sequence[Row[Any]], closes: dict[tuple[str, date], float], metrics: dict[str, float]
) -> None:
    """The README's loss worked out from the stored test predictions and the raw closes: |ln(predicted /
    actual)| per (session, ticker), averaged over the session's tickers, then over sessions; the same with
    the last close for persistence; and the price MAE over every cell."""
    cells: dict[date, list[tuple[float, float, float]]] = defaultdict(list)
    for r in stored:
        assert r.last_close == closes[(r.ticker, r.as_of_date)]
        actual = closes[(r.ticker, r.target_date)]
        cells[r.target_date].append(
            (
                abs(math.log(r.predicted_close / actual)),
                abs(math.log(r.last_close / actual)),
                abs(r.predicted_close - actual),
            )
        )
    sessions = list(cells.values())
    model = sum(sum(c[0] for c in s) / len(s) for s in sessions) / len(sessions)
    persistence = sum(sum(c[1] for c in s) / len(s) for s in sessions) / len(sessions)
    price_mae = sum(c[2] for s in sessions for c in s) / sum(len(s) for s in sessions)
    assert (
        metrics["test_log_mae"],
        metrics["test_persistence_log_mae"],
        metrics["test_mae"],
    ) == pytest.approx((model, persistence, price_mae), rel=1e-6)


@pytest.mark.slow
def test_train_logs_registers_and_the_registered_model_holds_the_best_epoch(
    sample_store: SampleStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, run_id = sample_store.engine, sample_store.run_id
    result = train_with(engine, tiny_params("reporting.max_ticker_plots=2"), settings, run_id, **BOUNCY)

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
    shown = artifacts - {"plots/loss_curves.png", "plots/summary.png"}  # two tickers (max_ticker_plots=2)
    assert {"plots/loss_curves.png", "plots/summary.png"} < artifacts
    assert len(shown) == 2 and shown < {f"plots/{t}.png" for t in ("AAPL", "GOOG", "IBM", "MSFT")}
    assert list(result.figures)[:2] == [LOSS_CURVES, SUMMARY]  # what the run page's HTML shows
    called, always_up = np.array(result.directions["model"]), np.array(result.directions["always_up"])
    calls = called[:, [0, 2]]  # a forecast at the last close calls no move: left out of the accuracy
    assert (called[0, 0] + called[2, 2]) / calls.sum() == pytest.approx(
        result.metrics["test_directional_accuracy"]
    )
    assert always_up[2].sum() / always_up.sum() == pytest.approx(
        result.metrics["test_always_up_directional_accuracy"]
    )
    for artifact in sorted(artifacts):
        plot = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=artifact))
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
    with engine.connect() as conn:  # the trust root: the same manifest, recorded in the store
        assert recorded_manifest(conn, result.mlflow_run_id) == (manifest, manifest.digest)
    _refuse_unpickling(monkeypatch)
    with engine.connect() as conn:
        model, _ = registry_models.load_model(conn, f"models:/{MODEL_NAME}@production")
    monkeypatch.undo()

    with engine.connect() as conn:
        dataset = load_scaled(conn, run_id)
        panel = load_processed(conn, run_id).panel
        stored = conn.execute(select(latest_predictions).order_by("as_of_date", "ticker")).all()
        closes = {
            (r.ticker, r.date): r.close
            for r in conn.execute(
                select(raw_stock_data.c.ticker, raw_stock_data.c.date, raw_stock_data.c.close)
            )
        }
    _check_the_test_metrics_by_hand(stored, closes, result.metrics)
    # The registered model is the refit: the configuration trained from the same seed on every window
    # for the split fit's best epoch count; it is reproduced exactly by doing that again.
    assert result.metrics["refit_epochs"] == best
    assert len(client.get_metric_history(run.info.run_id, "refit_loss")) == best
    hyperparameters = {**SMALL_LSTM, **BOUNCY}
    params = tiny_params()
    config = TrainConfig(
        learning_rate=hyperparameters["learning_rate"],
        batch_size=hyperparameters["batch_size"],
        max_epochs=params.train.max_epochs,
        patience=params.train.patience,
        seed=params.train.seed,
    )
    torch.manual_seed(params.train.seed)
    again = build_model(model_spec(hyperparameters, dataset.x_scaled.shape[1], dataset.n_inputs))
    refit(again, dataset.windows("all"), config, best)
    windows = dataset.windows("test")
    np.testing.assert_allclose(predict(model, windows), predict(again, windows), rtol=1e-5, atol=1e-6)
    # The stored test predictions are the split fit's (walk-forward: made before it saw those days);
    # GOOG, listed in 2004, has too few training windows in the split: persistence forecasts it there,
    # exactly, while the refit, with enough GOOG windows, serves every ticker.
    goog = panel.tickers.index("GOOG")
    assert dataset.windows("train").samples_per_stock()[goog] < params.train.min_training_windows
    assert result.persistence_tickers == () and production.persistence_tickers == ()
    assert len(stored) == dataset.split.test * 4
    assert {(r.kind, r.model_run_id, r.model_version) for r in stored} == {
        ("test", result.mlflow_run_id, None)  # stored before the run ended, so before registration
    }
    assert all(r.target_date > r.as_of_date for r in stored)
    assert all(r.predicted_close == r.last_close for r in stored if r.ticker == "GOOG")
    assert all(r.predicted_close != r.last_close for r in stored if r.ticker != "GOOG")
    assert "GOOG" not in result.report_markdown.split("refitted")[1]
    assert result.metrics["test_log_mae_ratio"] == pytest.approx(
        result.metrics["test_log_mae"] / result.metrics["test_persistence_log_mae"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("sample_store", BOTH_STORES, indirect=True)
def test_a_ticker_with_too_few_training_windows_is_not_served_by_the_model(
    sample_store: SampleStore, settings: Settings
) -> None:
    params = tiny_params("train.max_epochs=1", "train.min_training_windows=1000")  # GOOG has about 550
    result = train_with(sample_store.engine, params, settings, sample_store.run_id)
    assert result.persistence_tickers == ("GOOG",)
    assert "GOOG: fewer than 1000 training windows, not served by the model" in result.report_markdown
    version = registry.model_version(MODEL_NAME, result.model_version)
    assert version.persistence_tickers == ("GOOG",)
    assert version.served_by_persistence(("AAPL", "GOOG")).tolist() == [False, True]


def test_without_optimization_results_train_uses_documented_defaults(
    sample_store: SampleStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        hyperparameters, source = hyperparameters_for(sample_store.engine, tiny_params(), sample_store.run_id)
    assert source == "defaults" and hyperparameters == {"architecture": "lstm", **DEFAULT_HYPERPARAMETERS}
    assert "no optimization result" in caplog.text
