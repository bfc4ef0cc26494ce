"""A search shared by parallel workers: a worker killed mid-trial leaves a trial that `collect` fails.

The worker is a real OS process on one SQLite store (as the pods of the ParallelFor share PostgreSQL).
Two pipeline workers sharing the trial budget exactly: tests/pipelines/test_local_runs.py.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.process import BaseProcess

import optuna
import pytest

from stockpredictor.db.engine import make_engine
from stockpredictor.stages.optimize import run_worker
from stockpredictor.stages.optimize_study import collect, create_study, storage_for, study_name
from tests.support.sample_dataset import SampleStore, tiny_params

pytestmark = pytest.mark.slow  # runs Optuna trials: trains models

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


def test_a_killed_workers_trial_is_failed_by_collect_and_the_search_resumes(
    sample_store: SampleStore,
) -> None:
    overrides = ("optimize.n_trials=100", "optimize.max_epochs=8")
    params = tiny_params(*overrides)
    create_study(sample_store.engine, params, sample_store.run_id)
    worker = start_worker(sample_store, 0, *overrides)
    study = load(sample_store)
    while not (study.get_trials(states=(States.COMPLETE,)) and study.get_trials(states=(States.RUNNING,))):
        assert worker.is_alive(), "the worker stopped before a trial completed and another started"
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
