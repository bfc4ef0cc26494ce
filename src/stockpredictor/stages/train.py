"""Stage `train`: tune on the chronological split, report on the test windows, refit up to the as-of.

1. The best hyperparameters are fitted on the training windows with early stopping on the validation
   windows (`models.fit` keeps the best epoch's weights).
2. That model forecasts the test windows, which lie after everything it saw: the walk-forward test
   metrics (price space and the scale-free loss of `models.loss`, next to persistence), and the test
   predictions (stored; the promotion gate scores a candidate on the last of them).
3. The configuration is refitted from scratch on every window up to the dataset's as-of, for the
   split fit's best epoch count (at least 1): the model that is registered and served.

A ticker with fewer than `train.min_training_windows` samples in a model's training windows is not
served by that model: persistence forecasts it (exactly the last close), in the test forecasts of the
split model and, for the refit, through the registered version's `persistence_tickers` tag.

One MLflow run per call: the `dataset_run_id` (param and tag), hyperparameters, per-epoch loss
curves and their figure, the test metrics, this process's CPU seconds in the split fit and in the
refit (`fit_cpu_seconds`, `refit_cpu_seconds`: the epochs, apart from the rest of the stage), the
figures of `stages.figures` (a summary over every ticker, the predicted-vs-actual closes of at most
`reporting.max_ticker_plots` tickers), a Markdown report, and the refitted model in the pickle-free
`pt2` format with the manifest of its files.

Order: log everything, store the test predictions and the manifest of the model's files (one
transaction: the store's trust root, `db.model_manifests`), end the run; only a run that ended FINISHED has
its model registered as `train.model_name`. A training killed at any point before leaves no version
(its run stays RUNNING until the next `train` or `monitor` marks it FAILED, `registry.fail_dead_runs`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from sqlalchemy import Engine
from torch import nn

from stockpredictor import registry, registry_models
from stockpredictor.config import TABULAR_FAMILIES, Params, Settings
from stockpredictor.db.datasets import as_numpy_dates, load_processed, load_scaled
from stockpredictor.db.model_manifests import record_manifest
from stockpredictor.db.optimization import load_optimization
from stockpredictor.db.predictions import upsert_test_predictions
from stockpredictor.features.sequences import ScaledDataset, Windows
from stockpredictor.models import (
    FitResult,
    TrainConfig,
    build_model,
    configure_torch_threads,
    fit,
    model_spec,
    predict,
    refit,
)
from stockpredictor.models.metrics import shown_accuracy
from stockpredictor.models.tabular import TabularForecaster, fit_on_dataset, refit_on
from stockpredictor.stages.evaluation import PricePredictions
from stockpredictor.stages.figures import png, training_figures
from stockpredictor.stages.model_forecasts import forecast

log = logging.getLogger(__name__)

#: The name of the loss-curve figure among `TrainResult.figures` (the others are tickers).
LOSS_CURVES = "loss curves"

#: Used when the dataset has no `optimize` result (the run is tagged `hyperparameters_source=defaults`);
#: the architecture is the first of `optimize.architectures`.
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "hidden_size": 64,
    "num_layers": 2,
    "dropout": 0.2,
    "learning_rate": 1e-3,
    "batch_size": 32,
}
DEFAULT_TABULAR: dict[str, dict[str, Any]] = {
    "gbm": {
        "lags": 5,
        "gbm_learning_rate": 0.05,
        "max_leaf_nodes": 8,
        "min_samples_leaf": 100,
        "l2_regularization": 1.0,
    },
    "ridge": {"lags": 5, "alpha": 100.0},
}


@dataclass(frozen=True)
class TrainResult:
    """The MLflow run, the registered version, the test metrics and the run's Markdown report.

    `persistence_tickers`: the tickers the registered (refitted) model leaves to persistence.
    `figures`: the figures logged to the run by name (loss curves of a model fitted in epochs, then
    `stages.figures.training_figures`: the summary and the capped per-ticker closes);
    `directions`: up / no change / down confusion matrices on the test windows of the model and the
    direction baselines (`PricePredictions.direction_confusions`).
    """

    mlflow_run_id: str
    model_version: int
    metrics: dict[str, float]
    report_markdown: str
    persistence_tickers: tuple[str, ...] = ()
    figures: dict[str, Figure] = field(default_factory=dict)
    directions: dict[str, list[list[int]]] = field(default_factory=dict)


def hyperparameters_for(engine: Engine, params: Params, dataset_run_id: str) -> tuple[dict[str, Any], str]:
    """The dataset's best hyperparameters and "optuna", or the documented defaults and "defaults"."""
    with engine.connect() as conn:
        found = load_optimization(conn, dataset_run_id)
    if found is not None:
        return found.best_params, "optuna"
    log.warning(
        "train %s: no optimization result for this dataset (run `optimize` first?); "
        "training with the default hyperparameters",
        dataset_run_id,
    )
    family = params.optimize.architectures[0]
    return {"architecture": family, **DEFAULT_TABULAR.get(family, DEFAULT_HYPERPARAMETERS)}, "defaults"


def train(engine: Engine, params: Params, settings: Settings, dataset_run_id: str) -> TrainResult:
    """Train on a dataset, evaluate on its test windows, log and register the model in MLflow."""
    configure_torch_threads()
    with engine.connect() as conn:
        processed = load_processed(conn, dataset_run_id)
        dataset = load_scaled(conn, dataset_run_id)
    hyperparameters, source = hyperparameters_for(engine, params, dataset_run_id)
    panel = processed.panel
    learner = _learner(hyperparameters, dataset, panel.feature_columns, params)
    minimum = params.train.min_training_windows
    every_window, test_windows = dataset.windows("all"), dataset.windows("test")
    split_persistence = dataset.windows("train").samples_per_stock() < minimum
    refit_persistence = every_window.samples_per_stock() < minimum
    persistence_tickers = tuple(t for t, p in zip(panel.tickers, refit_persistence, strict=True) if p)

    registry.use_tracking(settings)
    registry.use_experiment(params.train.experiment_name)
    registry.fail_dead_runs(params.train.experiment_name)
    with registry.start_run(f"train-{dataset_run_id}") as run:
        run.set_tags({"dataset_run_id": dataset_run_id, "hyperparameters_source": source})
        run.log_params(
            {
                "dataset_run_id": dataset_run_id,
                "hyperparameters_source": source,
                **learner.params,
                "sequence_length": dataset.sequence_length,
                "target": processed.target,
                "tickers": ",".join(panel.tickers),
                "feature_columns": ",".join(panel.feature_columns),
                "n_train": dataset.split.train,
                "n_validation": dataset.split.validation,
                "n_test": dataset.split.test,
                "n_refit": len(every_window),
                "min_training_windows": minimum,
                "persistence_tickers": ",".join(persistence_tickers),
            }
        )
        started, fit_cpu = time.perf_counter(), time.process_time()
        model, fitted = learner.fit()
        fit_cpu = time.process_time() - fit_cpu
        run.log_steps(
            (key, value, e.epoch)
            for e in fitted.history
            for key, value in (("train_loss", e.train_loss), ("val_loss", e.val_loss))
        )
        test = forecast(
            model,
            test_windows,
            y_scaler=dataset.y_scaler,
            close=panel.close,
            dates=as_numpy_dates(panel.dates),
            tickers=panel.tickers,
            target=processed.target,
            persistence=split_persistence,
        )
        refit_started, refit_cpu = time.perf_counter(), time.process_time()
        served, refit_losses = learner.refit(every_window, fitted)
        refit_cpu = time.process_time() - refit_cpu
        run.log_steps(("refit_loss", loss, epoch) for epoch, loss in enumerate(refit_losses, start=1))
        metrics = {
            **{f"test_{k}": v for k, v in test.metrics().items()},
            **test.versus_persistence().as_metrics("test_"),
            "best_epoch": float(fitted.best_epoch),
            "epochs_trained": float(len(fitted.history)),
            "best_val_loss": fitted.best_val_loss,
            "refit_epochs": float(len(refit_losses)),
            # in sample (the refit saw these windows), beside best_val_loss; not every window: at 500
            # tickers that was a 4,790-window inference pass, the largest cost of train after the epochs
            "refit_test_mse": _mse(served, test_windows),
            "refit_seconds": time.perf_counter() - refit_started,
            "train_seconds": time.perf_counter() - started,
            "fit_cpu_seconds": fit_cpu,
            "refit_cpu_seconds": refit_cpu,
        }
        by_ticker = test.per_ticker()
        run.log_metrics({**metrics, **{f"test_mae_{t}": m["mae"] for t, m in by_ticker.items()}})
        curves = {LOSS_CURVES: _loss_plot(fitted, refit_losses)} if fitted.history else {}  # none: tabular
        figures = curves | training_figures(test, by_ticker, params.reporting.max_ticker_plots)
        run.log_files({f"{name.replace(' ', '_')}.png": png(f) for name, f in figures.items()}, "plots")
        logged = learner.log(served, {"dataset_run_id": dataset_run_id})
        report = _report(
            run.mlflow_run_id, dataset_run_id, hyperparameters, source, fitted, metrics, by_ticker
        ) + _coverage(persistence_tickers, minimum, learner.refit_rounds(fitted), len(every_window))
        run.log_text(report, "report.md")
        gate_days = None if params.train.log_test_predictions else params.promotion.scored_days
        with engine.begin() as conn:
            upsert_test_predictions(conn, run.mlflow_run_id, _prediction_frame(test, gate_days))
            record_manifest(conn, logged.mlflow_run_id, logged.manifest)
    tags = {"dataset_run_id": dataset_run_id}
    if persistence_tickers:
        tags[registry.PERSISTENCE_TICKERS_TAG] = ",".join(persistence_tickers)
    version = registry_models.register_version(logged, params.train.model_name, tags=tags)
    log.info(
        "train %s: MLflow run %s, %s version %d, test MAE %.4f (persistence %.4f)",
        dataset_run_id,
        run.mlflow_run_id,
        params.train.model_name,
        version,
        metrics["test_mae"],
        metrics["test_persistence_mae"],
    )
    if persistence_tickers:
        log.warning(
            "train %s: %s not served by the model (fewer than %d training windows): persistence serves them",
            dataset_run_id,
            ", ".join(persistence_tickers),
            minimum,
        )
    return TrainResult(
        run.mlflow_run_id,
        version,
        metrics,
        report,
        persistence_tickers,
        figures,
        test.direction_confusions(),
    )


@dataclass(frozen=True)
class _Learner:
    """A model family in `train`: its run params, its split fit (train windows, validation windows),
    its refit on given windows (the refitted module and its per-epoch losses), its logger, and what the
    refit repeats (epochs of an LSTM, trees of gbm, none for ridge)."""

    params: dict[str, Any]
    fit: Callable[[], tuple[nn.Module, FitResult]]
    refit: Callable[[Windows, FitResult], tuple[nn.Module, list[float]]]
    log: Callable[[nn.Module, dict[str, Any]], registry_models.LoggedModelRef]
    refit_rounds: Callable[[FitResult], str]


def _learner(
    hyperparameters: dict[str, Any], dataset: ScaledDataset, feature_columns: tuple[str, ...], params: Params
) -> _Learner:
    """The LSTM of `hyperparameters` (pt2 export), or a tabular family's model (JSON + .npy export)."""
    if hyperparameters["architecture"] in TABULAR_FAMILIES:
        return _tabular_learner(hyperparameters, dataset, feature_columns, params.train.seed)
    spec = model_spec(hyperparameters, dataset.x_scaled.shape[1], dataset.n_inputs)
    config = TrainConfig(
        learning_rate=float(hyperparameters["learning_rate"]),
        batch_size=int(hyperparameters["batch_size"]),
        max_epochs=params.train.max_epochs,
        patience=params.train.patience,
        seed=params.train.seed,
    )

    def fit_lstm() -> tuple[nn.Module, FitResult]:
        torch.manual_seed(params.train.seed)
        model = build_model(spec)
        return model, fit(model, dataset.windows("train"), dataset.windows("validation"), config)

    def refit_lstm(windows: Windows, fitted: FitResult) -> tuple[nn.Module, list[float]]:
        torch.manual_seed(params.train.seed)  # the refit starts from the same seed as the split fit
        served = build_model(spec)
        return served, refit(served, windows, config, epochs=max(1, fitted.best_epoch))

    def log_lstm(model: nn.Module, metadata: dict[str, Any]) -> registry_models.LoggedModelRef:
        example, _ = dataset.windows("train").batch(np.arange(2))
        return registry_models.log_model(model, example, metadata={"model_spec": spec.to_dict(), **metadata})

    return _Learner(
        {**spec.to_dict(), **dataclasses.asdict(config)},
        fit_lstm,
        refit_lstm,
        log_lstm,
        lambda fitted: f"for {max(1, fitted.best_epoch)} epoch(s)",
    )


def _tabular_learner(
    hyperparameters: dict[str, Any], dataset: ScaledDataset, feature_columns: tuple[str, ...], seed: int
) -> _Learner:
    """gbm or ridge: `best_epoch` of its FitResult is the number of trees the validation windows kept."""
    input_shape = (-1, dataset.sequence_length, dataset.x_scaled.shape[1], dataset.n_inputs)

    def fit_tabular() -> tuple[nn.Module, FitResult]:
        fitted = fit_on_dataset(hyperparameters, dataset, feature_columns, seed=seed)
        return TabularForecaster(fitted.model), FitResult(
            [], fitted.n_iterations, fitted.best_val_loss, False
        )

    def refit_tabular(windows: Windows, fitted: FitResult) -> tuple[nn.Module, list[float]]:
        model = refit_on(hyperparameters, dataset, feature_columns, windows, fitted.best_epoch, seed=seed)
        return TabularForecaster(model), []

    def log_tabular(model: nn.Module, metadata: dict[str, Any]) -> registry_models.LoggedModelRef:
        assert isinstance(model, TabularForecaster)
        return registry_models.log_tabular_model(model.tabular, input_shape, metadata)

    def rounds(fitted: FitResult) -> str:
        return f"with {max(1, fitted.best_epoch)} tree(s)" if fitted.best_epoch else "(a linear model)"

    return _Learner(dict(hyperparameters), fit_tabular, refit_tabular, log_tabular, rounds)


def _loss_plot(fitted: FitResult, refit_losses: list[float]) -> Figure:
    """Training and validation loss per epoch of the split fit, and the refit's training loss."""
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots()
    epochs = [e.epoch for e in fitted.history]
    axes.plot(epochs, [e.train_loss for e in fitted.history], label="train loss (split fit)", marker="o")
    axes.plot(epochs, [e.val_loss for e in fitted.history], label="validation loss (split fit)", marker="o")
    refit_epochs = range(1, len(refit_losses) + 1)
    axes.plot(refit_epochs, refit_losses, label="train loss (refit on every window)", linestyle="--")
    axes.axvline(fitted.best_epoch, color="grey", linewidth=0.8, label=f"best epoch {fitted.best_epoch}")
    axes.set_title("Loss per epoch (scaled target)")
    axes.set_xlabel("epoch")
    axes.legend()
    return figure


def _mse(model: nn.Module, windows: Windows) -> float:
    """The mean squared error (scaled units) of `model` on `windows`, over the targets that exist."""
    y = windows.observed_targets()  # not `windows.batch(every window)`: that is every input at once
    return float(np.nanmean((predict(model, windows).astype(np.float64) - y) ** 2))


def _report(
    mlflow_run_id: str,
    dataset_run_id: str,
    hyperparameters: dict[str, Any],
    source: str,
    fitted: FitResult,
    metrics: dict[str, float],
    by_ticker: dict[str, dict[str, float]],
) -> str:
    lines = [
        f"## Training run `{mlflow_run_id}`",
        "",
        f"Dataset `{dataset_run_id}`; hyperparameters ({source}): "
        + ", ".join(f"{k}={v}" for k, v in sorted(hyperparameters.items())),
        "",
        f"Best validation loss {fitted.best_val_loss:.6g} "
        + (
            f"at epoch {fitted.best_epoch} of {len(fitted.history)}"
            + (" (stopped early; best weights restored)" if fitted.stopped_early else "")
            if fitted.history
            else f"({fitted.best_epoch} boosting iterations kept; 0 for a linear model)"
        ),
        "",
        "| test metric | model | baseline |",
        "|---|---:|---:|",
        f"| log-return MAE (scale-free, primary) | {metrics['test_log_mae']:.6f} | "
        f"{metrics['test_persistence_log_mae']:.6f} (persistence) |",
        f"| log-return MAE ratio to persistence | {metrics['test_log_mae_ratio']:.4f} "
        f"(Diebold-Mariano p {metrics['test_loss_p_better']:.3g} that it beats persistence) | 1 |",
        *(
            f"| {name} | {metrics[f'test_{name}']:.4f} | "
            f"{metrics[f'test_persistence_{name}']:.4f} (persistence) |"
            for name in ("mae", "rmse", "mape")
        ),
        f"| price MAE ratio to persistence | {metrics['test_mae_ratio']:.4f} | 1 |",
        *(
            f"| directional_accuracy | {shown_accuracy(metrics['test_directional_accuracy'])} | "
            f"{metrics[f'test_{baseline}_directional_accuracy']:.4f} ({baseline.replace('_', ' ')}) |"
            for baseline in ("always_up", "last_move")
        ),
        "",
        "| ticker | MAE | persistence MAE | directional accuracy |",
        "|---|---:|---:|---:|",
        *(
            f"| {t} | {m['mae']:.4f} | {m['persistence_mae']:.4f} | "
            f"{shown_accuracy(m['directional_accuracy'])} |"
            for t, m in by_ticker.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def _coverage(persistence_tickers: tuple[str, ...], minimum: int, rounds: str, windows: int) -> str:
    served = (
        f"{', '.join(persistence_tickers)}: fewer than {minimum} training windows, not served by the model "
        "(persistence forecasts them)."
        if persistence_tickers
        else f"Every ticker has at least {minimum} training windows and is served by the model."
    )
    return f"\nThe registered model was refitted on all {windows} windows {rounds}. {served}\n"


def _prediction_frame(test: PricePredictions, last_days: int | None) -> pd.DataFrame:
    """The scored test-window predictions of the run, one row per (window, ticker); only those of the
    last `last_days` target days unless None (the promotion gate's window)."""
    scored = test.scored.copy()
    scored[: 0 if last_days is None else max(0, len(test.target_dates) - last_days)] = False
    i, j = np.nonzero(scored)
    return pd.DataFrame(
        {
            "ticker": np.array(test.tickers, dtype=object)[j],
            "as_of_date": np.array(test.as_of_dates, dtype="datetime64[D]")[i],
            "target_date": np.array(test.target_dates, dtype="datetime64[D]")[i],
            "last_close": test.last_close[i, j].astype(np.float64),
            "predicted_close": test.predicted[i, j].astype(np.float64),
        }
    )
