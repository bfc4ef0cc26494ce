"""A search shared by parallel workers: exact trial budget, both workers used, killed workers' trials failed.

The workers are real OS processes on one SQLite store (as the pods of the ParallelFor share PostgreSQL):
the training pipeline's `optimize_search` graph run by kfp.local, and a spawned worker killed mid-trial.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import optuna
from pipelines.training import optimize_search

from stockpredictor.config import Settings
from stockpredictor.db.engine import make_engine
from stockpredictor.db.optimization import load_optimization
from stockpredictor.orchestration.local import run_local
from stockpredictor.stages.optimize import collect, create_study, run_worker, storage_for, study_name
from tests.conftest import REPO
from tests.training.conftest import TINY, SampleStore, tiny_params

States = optuna.trial.TrialState
FINISHED = (States.COMPLETE, States.PRUNED)


def _work(url: str, run_id: str, worker: int, overrides: tuple[str, ...]) -> None:
    run_worker(make_engine(url), tiny_params(*overrides), run_id, worker)


def start_worker(store: SampleStore, worker: int, *overrides: str) -> BaseProcess:
    """A worker in a fresh interpreter (spawned, as a pod would be)."""
    process = multiprocessing.get_context("spawn").Process(
        target=_work, args=(store.url, store.run_id, worker, overrides)
    )
    process.start()
    return process


def load(store: SampleStore) -> optuna.Study:
    return optuna.load_study(study_name=study_name(store.run_id), storage=storage_for(store.engine))


def test_two_pipeline_workers_share_the_budget_exactly(sample_store: SampleStore, tmp_path: Path) -> None:
    overrides = [*TINY, "optimize.n_trials=6", "optimize.max_epochs=2"]
    settings = Settings(tmp_path, sample_store.url, f"sqlite:///{tmp_path / 'mlflow.db'}")
    arguments = {
        "params_overrides": json.dumps(overrides),
        "dataset_run_id": sample_store.run_id,
        "workers": 2,
    }
    run = run_local(optimize_search, arguments, settings, REPO / "params.yaml")

    study = load(sample_store)
    finished = study.get_trials(states=FINISHED)
    assert len(finished) == 6 and not study.get_trials(states=(States.RUNNING,))
    assert {trial.user_attrs["worker"] for trial in finished} == {0, 1}
    outputs = run.output_dir.glob("for-loop-*-iteration-*/optimize-worker/executor_output.json")
    assert sorted(json.loads(path.read_text())["parameterValues"]["Output"] for path in outputs) == sorted(
        sum(trial.user_attrs["worker"] == worker for trial in finished) for worker in (0, 1)
    )
    with sample_store.engine.connect() as conn:
        result = load_optimization(conn, sample_store.run_id)
    assert result is not None and result.n_complete + result.n_pruned == 6
    assert (result.best_params, result.best_value) == (study.best_trial.params, study.best_trial.value)
    # Rerunning resumes the study: the budget is spent, no trial is added.
    assert run_worker(sample_store.engine, tiny_params("optimize.n_trials=6"), sample_store.run_id, 0) == 0
    assert len(load(sample_store).trials) == len(study.trials)


def test_a_killed_workers_trial_is_failed_by_collect_and_the_search_resumes(
    sample_store: SampleStore,
) -> None:
    overrides = ("optimize.n_trials=100", "optimize.max_epochs=8")
    params = tiny_params(*overrides)
    create_study(sample_store.engine, params, sample_store.run_id)
    worker = start_worker(sample_store, 0, *overrides)
    study = load(sample_store)
    deadline = time.monotonic() + 60
    while not (study.get_trials(states=(States.COMPLETE,)) and study.get_trials(states=(States.RUNNING,))):
        assert time.monotonic() < deadline and worker.is_alive(), "no trial ran"
        time.sleep(0.05)
    worker.kill()  # SIGKILL: the running trial stays RUNNING in the store
    worker.join()
    assert study.get_trials(states=(States.RUNNING,))

    collect(sample_store.engine, params, sample_store.run_id)
    assert not study.get_trials(states=(States.RUNNING,))
    assert study.get_trials(states=(States.FAIL,))
    # The killed trial is not counted: a rerun runs just the missing ones.
    budget = len(study.get_trials(states=FINISHED)) + 1
    assert (
        run_worker(sample_store.engine, tiny_params(f"optimize.n_trials={budget}"), sample_store.run_id) == 1
    )
