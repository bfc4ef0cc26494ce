"""Stage `optimize`: a seeded Optuna TPE search with median pruning, on the validation windows only.

Running the stage again resumes the dataset's study (`stages.optimize_study`), running only the trials
still missing from `optimize.n_trials` (complete and pruned trials count; failed ones are retried). The
search scales out as `create_study` once, then `run_worker` in any number of processes sharing the
study, then `collect`; `optimize` runs the three in one process.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import optuna
import torch
from sqlalchemy import Engine

from stockpredictor.config import TABULAR_FAMILIES, Params
from stockpredictor.db.datasets import load_processed, load_scaled
from stockpredictor.features.sequences import ScaledDataset
from stockpredictor.models import TrainConfig, build_model, configure_torch_threads, fit, model_spec
from stockpredictor.models.tabular import fit_on_dataset
from stockpredictor.stages.optimize_study import (
    COUNTED,
    MAX_LAGS,
    OptimizeResult,
    claimed,
    collect,
    create_study,
    open_study,
    search_families,
    storage_for,
    trial_budget,
)

log = logging.getLogger(__name__)

HIDDEN_SIZES = (16, 32, 64)
BATCH_SIZES = (32, 64, 128)
MAX_LAYERS = 2


def suggest(trial: optuna.Trial, params: Params, families: list[str]) -> dict[str, Any]:
    """The search space: the model family (one of `families`), then its own settings (conditional on
    the family).

    LSTMs: size, dropout, optimiser settings. Tabular families (`models.tabular`): the lags of
    their rows, and the trees' settings (`gbm`) or the ridge penalty (`ridge`).
    """
    architecture = trial.suggest_categorical("architecture", families)
    if architecture in TABULAR_FAMILIES:
        return {"architecture": architecture, **_suggest_tabular(trial, architecture, params)}
    return {
        "architecture": architecture,
        "hidden_size": trial.suggest_categorical("hidden_size", list(HIDDEN_SIZES)),
        "num_layers": trial.suggest_int("num_layers", 1, MAX_LAYERS),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        "batch_size": trial.suggest_categorical("batch_size", list(BATCH_SIZES)),
    }


def _suggest_tabular(trial: optuna.Trial, family: str, params: Params) -> dict[str, Any]:
    lags = trial.suggest_int("lags", 1, min(MAX_LAGS, params.sequences.sequence_length))
    if family == "ridge":
        return {"lags": lags, "alpha": trial.suggest_float("alpha", 1e-2, 1e5, log=True)}
    return {
        "lags": lags,
        "gbm_learning_rate": trial.suggest_float("gbm_learning_rate", 0.01, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 4, 32, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 20, 400, log=True),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-3, 10.0, log=True),
    }


def _objective(dataset: ScaledDataset, feature_columns: tuple[str, ...], params: Params) -> Any:
    train_windows, validation_windows = dataset.windows("train"), dataset.windows("validation")
    families = search_families(params, dataset.x_scaled.shape[1])

    def objective(trial: optuna.Trial) -> float:
        hyperparameters = suggest(trial, params, families)
        if hyperparameters["architecture"] in TABULAR_FAMILIES:  # fitted at once: nothing to prune
            fitted = fit_on_dataset(
                hyperparameters, dataset, feature_columns, seed=params.optimize.seed + trial.number
            )
            trial.set_user_attr("best_epoch", fitted.n_iterations)
            return fitted.best_val_loss
        torch.manual_seed(params.optimize.seed + trial.number)
        model = build_model(model_spec(hyperparameters, dataset.x_scaled.shape[1], dataset.n_inputs))
        config = TrainConfig(
            learning_rate=hyperparameters["learning_rate"],
            batch_size=hyperparameters["batch_size"],
            max_epochs=params.optimize.max_epochs,
            patience=params.train.patience,
            seed=params.optimize.seed + trial.number,
        )

        def report(epoch: int, _train_loss: float, val_loss: float) -> None:
            trial.report(val_loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation loss {val_loss:.6g} at epoch {epoch}")

        result = fit(model, train_windows, validation_windows, config, on_epoch=report)
        trial.set_user_attr("best_epoch", result.best_epoch)
        return result.best_val_loss

    return objective


def run_worker(engine: Engine, params: Params, dataset_run_id: str, worker: int = 0) -> int:
    """Run trials of the shared study until `optimize.n_trials` are finished or running; returns how many.

    Workers race safely: a worker takes a trial (Optuna assigns it an increasing id) and runs it only
    when fewer than `n_trials` counted trials were created before it; otherwise it marks it failed
    and stops. Each trial records its worker in the user attribute `worker`.
    """
    configure_torch_threads()
    with engine.connect() as conn:
        dataset = load_scaled(conn, dataset_run_id)
        feature_columns = load_processed(conn, dataset_run_id).panel.feature_columns
    study = open_study(storage_for(engine), dataset_run_id)
    n_trials = trial_budget(study, params)
    done = len(study.get_trials(deepcopy=False, states=COUNTED))
    # Seeded by how far the search got and by the worker, so neither a resumed search nor another
    # worker replays the same samples.
    study.sampler = optuna.samplers.TPESampler(seed=params.optimize.seed + done + worker)
    objective = _objective(dataset, feature_columns, params)
    deadline = time.monotonic() + params.optimize.timeout_seconds
    ran = 0
    log.info("optimize %s worker %d: %d of %d trials done", study.study_name, worker, done, n_trials)
    while claimed(study) < n_trials and time.monotonic() < deadline:
        trial = study.ask()
        if claimed(study, before_trial_id=trial._trial_id) >= n_trials:
            trial.set_user_attr("surplus", True)  # another worker claimed the last trial first
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            break
        trial.set_user_attr("worker", worker)
        try:
            study.tell(trial, objective(trial))
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        except Exception:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        ran += 1
    return ran


def optimize(engine: Engine, params: Params, dataset_run_id: str) -> OptimizeResult:
    """Run (or resume) the dataset's study in this process and store its best hyperparameters."""
    create_study(engine, params, dataset_run_id)
    run_worker(engine, params, dataset_run_id)
    return collect(engine, params, dataset_run_id)
