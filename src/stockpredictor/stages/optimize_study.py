"""The Optuna study of a search: created (or resumed, warm-started) once, shared by its workers, collected.

The study lives in the project database (Optuna's RDB storage) under `dataset-<run id>`. Nothing here
trains a model (`stages.optimize` runs the trials), so the steps that create and collect a study do not
import torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import optuna
from sqlalchemy import Engine, event

from stockpredictor.config import Params
from stockpredictor.db.datasets import dataset_tickers, load_scalers
from stockpredictor.db.engine import take_turns, write_transaction
from stockpredictor.db.optimization import OptimizationRecord, previous_optimization, save_optimization
from stockpredictor.errors import NoCompletedTrialError, UsageError

log = logging.getLogger(__name__)

CROSS_ATTENTION = "lstm_cross_attention"
MAX_LAGS = 10  # tabular rows: at most this many lagged returns (and no more than the window's length)
# A trial's validation loss is compared with the median of the completed trials at the same epoch
# once PRUNER_STARTUP_TRIALS trials have completed, from epoch PRUNER_WARMUP_EPOCHS on.
PRUNER_STARTUP_TRIALS = 3
PRUNER_WARMUP_EPOCHS = 2
#: Trial states that count towards the budget.
COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
#: Study and trial user attribute: the study whose best trials a warm-started search tried first.
WARM_START_ATTR = "warm_start_from"

#: The stage's result is the record it stores: best trial, complete and pruned trial counts.
OptimizeResult = OptimizationRecord


def study_name(dataset_run_id: str) -> str:
    """The Optuna study of a dataset."""
    return f"dataset-{dataset_run_id}"


def search_families(params: Params, n_tickers: int) -> list[str]:
    """The model families a search over `n_tickers` tickers chooses from: `optimize.architectures`, but
    cross-stock attention only up to `optimize.cross_attention_max_tickers` tickers (its cost per epoch
    grows with the tickers)."""
    limit = params.optimize.cross_attention_max_tickers
    families: list[str] = [
        f for f in params.optimize.architectures if f != CROSS_ATTENTION or n_tickers <= limit
    ]
    if not families:
        raise UsageError(
            f"optimize.architectures offers only {CROSS_ATTENTION}, which the search leaves out above "
            f"optimize.cross_attention_max_tickers ({limit}) tickers; this dataset has {n_tickers}"
        )
    return families


def storage_for(engine: Engine) -> optuna.storages.RDBStorage:
    """Optuna storage in the project database.

    On SQLite every Optuna transaction, its reads included, takes the write lock when it begins (BEGIN
    IMMEDIATE): Optuna hands an enqueued (warm-start) trial to a worker by reading it WAITING, then
    marking it RUNNING, and SQLite ignores the SELECT ... FOR UPDATE between them, so two workers
    could both take the same trial (seen: "Trial#0 has already finished and can not be updated").
    """
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name != "sqlite":
        return optuna.storages.RDBStorage(url)
    # No implicit transactions from the driver: each one is the BEGIN IMMEDIATE below.
    connect_args = {"timeout": 60, "isolation_level": None}
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": connect_args})
    event.listen(storage.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return storage


def open_study(storage: optuna.storages.RDBStorage, dataset_run_id: str) -> optuna.Study:
    """The dataset's study, created on first use, with this process's pruner."""
    return optuna.create_study(
        study_name=study_name(dataset_run_id),
        storage=storage,
        direction="minimize",
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNER_WARMUP_EPOCHS
        ),
    )


def _fail_orphans(study: optuna.Study, storage: optuna.storages.RDBStorage) -> None:
    """Mark the study's RUNNING trials failed: call only when none of its workers runs."""
    for orphan in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        log.warning(
            "optimize %s: trial %d was left running, marking it failed", study.study_name, orphan.number
        )
        storage.set_trial_state_values(orphan._trial_id, optuna.trial.TrialState.FAIL)


def create_study(engine: Engine, params: Params, dataset_run_id: str) -> str:
    """Create the dataset's study, or resume it (failing trials a killed earlier search left RUNNING).

    Returns the study's name. Call it before the workers start. An unknown dataset is refused before
    anything is written.
    """
    with engine.connect() as conn:
        load_scalers(conn, dataset_run_id)
        families = search_families(params, len(dataset_tickers(conn, dataset_run_id)))
    if CROSS_ATTENTION in params.optimize.architectures and CROSS_ATTENTION not in families:
        log.info(
            "optimize %s: %s left out of the search (over optimize.cross_attention_max_tickers = %d tickers)",
            dataset_run_id,
            CROSS_ATTENTION,
            params.optimize.cross_attention_max_tickers,
        )
    storage = storage_for(engine)
    study = open_study(storage, dataset_run_id)
    _fail_orphans(study, storage)
    if params.optimize.warm_start_trials and not study.get_trials(deepcopy=False):
        with engine.connect() as conn:
            previous = previous_optimization(conn, dataset_run_id)
        if previous is not None:
            _warm_start(study, storage, previous.study_name, params, families)
    return study.study_name


def _warm_start(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    previous: str,
    params: Params,
    families: list[str],
) -> None:
    """Enqueue the best complete trials of the study `previous` that fit today's search space (at most
    `optimize.warm_start_trials`); the study then runs `optimize.warm_n_trials` trials in all."""
    try:
        old = optuna.load_study(study_name=previous, storage=storage)
    except KeyError:  # the record outlived its study
        return
    ranked = sorted(
        (t for t in old.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))),
        key=lambda t: float("inf") if t.value is None else t.value,
    )
    chosen: list[dict[str, Any]] = []
    for trial in ranked:
        fits = trial.params.get("architecture") in families and int(trial.params.get("lags", 1)) <= min(
            MAX_LAGS, params.sequences.sequence_length
        )
        if fits and trial.params not in chosen:
            chosen.append(dict(trial.params))
        if len(chosen) == params.optimize.warm_start_trials:
            break
    if not chosen:
        return
    for trial_params in chosen:
        study.enqueue_trial(trial_params, user_attrs={WARM_START_ATTR: previous})
    study.set_user_attr(WARM_START_ATTR, previous)
    log.info("optimize %s: warm start from %s, %d trial(s) enqueued", study.study_name, previous, len(chosen))


def trial_budget(study: optuna.Study, params: Params) -> int:
    """Trials the study runs: `optimize.n_trials`, or at most `optimize.warm_n_trials` once warm-started."""
    if study.user_attrs.get(WARM_START_ATTR):
        return min(params.optimize.n_trials, params.optimize.warm_n_trials)
    return params.optimize.n_trials


def worker_indices(params: Params, workers: int = 0) -> list[int]:
    """The indices of the search's workers: `workers` of them, 0 = `optimize.workers`."""
    return list(range(workers or params.optimize.workers))


def claimed(study: optuna.Study, before_trial_id: int | None = None) -> int:
    """Trials that count towards the budget (finished or running), optionally only those created earlier."""
    trials = study.get_trials(deepcopy=False, states=(*COUNTED, optuna.trial.TrialState.RUNNING))
    return sum(1 for t in trials if before_trial_id is None or t._trial_id < before_trial_id)


def collect(engine: Engine, params: Params, dataset_run_id: str) -> OptimizeResult:
    """After the workers: fail the trials left RUNNING (a killed worker's), store the best trial's result.

    Call it once every worker has stopped: it takes any running trial for an orphan.
    """
    name = study_name(dataset_run_id)
    storage = storage_for(engine)
    study = optuna.load_study(study_name=name, storage=storage)
    _fail_orphans(study, storage)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise NoCompletedTrialError(f"study {name} has no completed trial (see the log for failures)")
    best = study.best_trial
    assert best.value is not None
    record = OptimizationRecord(
        dataset_run_id=dataset_run_id,
        study_name=name,
        best_params=dict(best.params),
        best_value=float(best.value),
        n_complete=len(complete),
        n_pruned=len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))),
    )
    with write_transaction(engine) as conn:
        take_turns(conn, "optimization", record.dataset_run_id)
        save_optimization(conn, record)
    log.info(
        "optimize %s: best validation loss %.6g with %s (%d complete, %d pruned)",
        name,
        record.best_value,
        record.best_params,
        record.n_complete,
        record.n_pruned,
    )
    return record


@dataclass(frozen=True)
class SearchHistory:
    """A dataset's study as the run page shows it: every trial in order, and what mattered.

    `trials`: (number, state name, value or None); `importances`: Optuna's fANOVA importance of each
    hyperparameter over the complete trials, largest first (empty with fewer than two, or when the
    complete trials do not vary).
    """

    trials: tuple[tuple[int, str, float | None], ...]
    importances: dict[str, float]


def search_history(engine: Engine, dataset_run_id: str) -> SearchHistory:
    """The trials and hyperparameter importances of the dataset's study (after `collect`)."""
    study = optuna.load_study(study_name=study_name(dataset_run_id), storage=storage_for(engine))
    trials = tuple((t.number, t.state.name, t.value) for t in study.get_trials(deepcopy=False))
    complete = [t for t in trials if t[1] == optuna.trial.TrialState.COMPLETE.name]
    importances: dict[str, float] = {}
    if len(complete) >= 2:
        try:
            importances = dict(optuna.importance.get_param_importances(study))
        except (RuntimeError, ValueError) as exc:  # e.g. every complete trial had the same value
            log.info("optimize %s: no hyperparameter importance (%s)", study.study_name, exc)
    return SearchHistory(trials, importances)
