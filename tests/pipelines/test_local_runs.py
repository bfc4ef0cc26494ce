"""Real `kfp.local` runs of the daily pipeline on one store, checked by what landed in the store and registry.

One module-scoped store goes through the product's first days on the bundled sample data:
2012-12-31 (empty store: bootstrap training), 2013-01-02 (predict; nothing has matured yet, so no
retraining) and 2013-01-03 (the 2013-01-03 prediction has matured; thresholds forced: retraining).
Every run posts its alerts to a real webhook receiver on 127.0.0.1.
Every training searches with two parallel workers (the ParallelFor of `optimize_search`, real OS
processes on the one SQLite store, as the pods of a cluster share PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from sqlalchemy import ColumnElement, Engine, Table, func, select
from typer.testing import Result

from stockpredictor.db.engine import make_engine
from stockpredictor.db.optimization import load_optimization
from stockpredictor.db.schema import (
    latest_predictions,
    model_performance_log,
    model_promotions,
    processed_feature_data,
)
from stockpredictor.stages.optimize import run_worker, storage_for, study_name
from tests.conftest import copy_mlflow_store
from tests.support.cli import invoke, key_output
from tests.support.overrides import FORCE_RETRAIN, LOCAL_RUN, LOCAL_RUN_TICKERS, LOCAL_RUN_TRIALS, repo_params
from tests.support.webhook import Receiver, webhook_receiver

pytestmark = pytest.mark.slow

MODEL = "StockPricePredictorLSTM"
TICKERS = LOCAL_RUN_TICKERS
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass
class Store:
    """A data dir with an SQLite store and an MLflow registry, and the CLI that runs pipelines on it."""

    data_dir: Path
    webhook_url: str

    def environment(self, mlflow_uri: str = "") -> dict[str, str]:
        # Explicit URIs: `mlflow.set_tracking_uri` in earlier tests of this process exports
        # MLFLOW_TRACKING_URI, and this module-scoped store is set up before the per-test isolation.
        return {
            "STOCKPREDICTOR_DATA_DIR": str(self.data_dir),
            "STOCKPREDICTOR_DATABASE_URL": f"sqlite:///{self.data_dir / 'stockpredictor.db'}",
            "MLFLOW_TRACKING_URI": mlflow_uri or f"sqlite:///{self.data_dir / 'mlflow.db'}",
            "STOCKPREDICTOR_ALERT_WEBHOOK_URL": self.webhook_url,
        }

    def run_daily(self, as_of: str, *overrides: str, mlflow_uri: str = "") -> Result:
        env = self.environment(mlflow_uri)
        return invoke(
            "pipeline", "run", "daily", "--as-of", as_of, overrides=[*LOCAL_RUN, *overrides], env=env
        )

    @cached_property
    def engine(self) -> Engine:
        return make_engine(f"sqlite:///{self.data_dir / 'stockpredictor.db'}")

    def count(self, table: Table, *where: ColumnElement[bool]) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

    @cached_property
    def registry(self) -> MlflowClient:
        uri = f"sqlite:///{self.data_dir / 'mlflow.db'}"
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    def versions(self) -> list[ModelVersion]:
        return sorted(self.registry.search_model_versions(f"name = '{MODEL}'"), key=lambda v: int(v.version))

    def production(self) -> ModelVersion | None:
        try:
            return self.registry.get_model_version_by_alias(MODEL, "production")
        except MlflowException:
            return None

    def daily_predictions(self, target: date) -> dict[str, str]:
        """Ticker -> model run id of the daily predictions for `target`."""
        query = select(latest_predictions.c.ticker, latest_predictions.c.model_run_id).where(
            latest_predictions.c.kind == "daily", latest_predictions.c.target_date == target
        )
        with self.engine.connect() as conn:
            return {ticker: run_id for ticker, run_id in conn.execute(query)}


def task_output(run_dir: Path, task: str) -> str:
    """The str a task of a local run returned."""
    document = json.loads((run_dir / task / "executor_output.json").read_text())
    return str(document["parameterValues"]["Output"])


def succeeded(result: Result) -> Path:
    """The run's artifact folder (the last stdout line); the CLI's output when the run failed."""
    return Path(key_output(result))


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """The webhook every run of the module posts its alerts to."""
    with webhook_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, mlflow_store_template: Path, receiver: Receiver) -> Store:
    """An empty store and an empty MLflow registry (its schema copied: creating it takes seconds)."""
    data_dir = tmp_path_factory.mktemp("local-runs") / "data"
    copy_mlflow_store(mlflow_store_template, data_dir)
    return Store(data_dir, receiver.url)


@pytest.fixture(scope="module")
def bootstrap(store: Store) -> Path:
    """The first daily run, on an empty store."""
    return succeeded(store.run_daily("2012-12-31"))


@pytest.fixture(scope="module")
def second_day(store: Store, bootstrap: Path) -> Path:
    """The next trading day's run with the default monitoring thresholds."""
    return succeeded(store.run_daily("2013-01-02"))


def test_first_daily_run_on_an_empty_store_bootstraps_a_production_model(
    store: Store, bootstrap: Path
) -> None:
    [version] = store.versions()
    production = store.production()
    assert production is not None and production.version == version.version
    assert store.count(processed_feature_data) == 1
    assert store.count(model_promotions, model_promotions.c.decision == "promoted") == 1
    assert (bootstrap / "promote").is_dir()
    assert not (bootstrap / "predict").exists()  # bootstrapping trains instead of predicting
    assert store.count(latest_predictions, latest_predictions.c.kind == "daily") == 0


def test_the_bootstrap_search_shares_its_trial_budget_between_two_workers(
    store: Store, bootstrap: Path
) -> None:
    dataset_run_id = task_output(bootstrap, "scale")
    storage = storage_for(store.engine)
    study = optuna.load_study(study_name=study_name(dataset_run_id), storage=storage)
    finished = study.get_trials(states=FINISHED)
    assert len(finished) == LOCAL_RUN_TRIALS
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert {trial.user_attrs["worker"] for trial in finished} == {0, 1}
    outputs = bootstrap.glob("for-loop-*-iteration-*/optimize-worker/executor_output.json")
    assert sorted(json.loads(path.read_text())["parameterValues"]["Output"] for path in outputs) == sorted(
        sum(trial.user_attrs["worker"] == worker for trial in finished) for worker in (0, 1)
    )
    with store.engine.connect() as conn:
        result = load_optimization(conn, dataset_run_id)
    assert result is not None and result.n_complete + result.n_pruned == LOCAL_RUN_TRIALS
    assert (result.best_params, result.best_value) == (study.best_trial.params, study.best_trial.value)
    # Rerunning a worker resumes the study: the budget is spent, no trial is added.
    assert run_worker(store.engine, repo_params(*LOCAL_RUN), dataset_run_id, 0) == 0
    assert len(optuna.load_study(study_name=study.study_name, storage=storage).trials) == len(study.trials)


def test_daily_run_predicts_and_does_not_retrain_when_monitoring_does_not_ask(
    store: Store, second_day: Path
) -> None:
    production = store.production()
    assert production is not None
    assert store.daily_predictions(date(2013, 1, 3)) == dict.fromkeys(TICKERS, production.run_id)
    assert len(store.versions()) == 1  # no training ran
    assert store.count(processed_feature_data) == 1
    assert task_output(second_day, "monitor") == "insufficient_data"
    table = (second_day / "predict" / "table").read_text()
    assert "Predicted closes for 2013-01-03" in table and all(f"| {t} |" in table for t in TICKERS)
    model = json.loads((second_day / "production-model" / "model").read_text())
    assert model["model_uri"] == f"models:/{MODEL}/{production.version}"


@pytest.fixture(scope="module")
def third_day(store: Store, second_day: Path) -> tuple[Path, ModelVersion]:
    """The third day's run with monitoring thresholds that force retraining, and the production before it."""
    before = store.production()
    assert before is not None
    return succeeded(store.run_daily("2013-01-03", *FORCE_RETRAIN)), before


def test_daily_run_takes_the_retrain_branch_when_thresholds_are_breached(
    store: Store, third_day: tuple[Path, ModelVersion]
) -> None:
    run_dir, before = third_day

    evaluated = model_performance_log.c.target_date == date(2013, 1, 3)
    assert (
        store.count(model_performance_log, evaluated, model_performance_log.c.model_run_id == before.run_id)
        == 2
    )
    assert task_output(run_dir, "monitor") == "retrain"
    assert store.daily_predictions(date(2013, 1, 4)) == dict.fromkeys(TICKERS, before.run_id)
    # The monitor's HTML card: a self-contained fan chart per ticker (inline SVG, no script, nothing fetched).
    page = (run_dir / "monitor" / "fan_chart").read_text()
    assert all(f'<figure data-ticker="{t}">' in page for t in TICKERS) and page.count('class="band"') >= 2
    assert "<script" not in page and "src=" not in page and "href=" not in page
    coverage = (run_dir / "monitor" / "interval_coverage").read_text()
    assert coverage.startswith("# Prediction intervals") and "| 80% |" in coverage
    # The nested training pipeline ran: a new dataset, a new registered version, a promotion decision on it.
    assert store.count(processed_feature_data) == 2
    first, retrained = store.versions()
    assert int(retrained.version) == int(first.version) + 1
    assert store.count(model_promotions, model_promotions.c.candidate_version == int(retrained.version)) == 1


def test_the_webhook_gets_one_message_per_promotion_decision_retrain_and_failure(
    store: Store, receiver: Receiver, third_day: tuple[Path, ModelVersion]
) -> None:
    with store.engine.connect() as conn:
        decisions = list(conn.scalars(select(model_promotions.c.decision).order_by(model_promotions.c.id)))
    # bootstrap: its decision; second day: nothing happened; third day: the retrain and its decision
    assert receiver.events() == [decisions[0], "retrain", decisions[1]]
    failed = store.run_daily(
        "2013-01-04", mlflow_uri="sqlite:////proc/mlflow.db"
    )  # cannot exist: production-model fails
    assert failed.exit_code != 0
    assert receiver.events() == [decisions[0], "retrain", decisions[1], "failure"]
    assert receiver.messages[-1]["text"].startswith("stockpredictor failure: stockpredictor-daily failed")


def test_the_training_pipeline_runs_on_its_own(tmp_path: Path, mlflow_store_template: Path) -> None:
    """`pipeline run training` (README, "Locally"), not nested in a daily run: every step of the README's
    training pipeline ran, and a first model was registered, gated and promoted."""
    alone = Store(tmp_path / "data", webhook_url="")
    copy_mlflow_store(mlflow_store_template, alone.data_dir)
    result = invoke(
        "pipeline",
        "run",
        "training",
        "--as-of",
        "2012-12-31",
        "--n-trials",
        "1",
        overrides=[*LOCAL_RUN, "optimize.workers=1", "optimize.max_epochs=1", "train.max_epochs=1"],
        env=alone.environment(),
    )
    run_dir = succeeded(result)
    steps = (
        "configure",
        "ingest",
        "process",
        "scale",
        "optimize-study",
        "optimize-collect",
        "train",
        "promote",
    )
    assert all((run_dir / step).is_dir() for step in steps), sorted(p.name for p in run_dir.iterdir())
    assert (
        task_output(run_dir, "promote") == "promoted"
    )  # ANY_FIRST_MODEL_PASSES: the README's gate, no evidence
    [version] = alone.versions()
    production = alone.production()
    assert production is not None and production.version == version.version
    assert alone.count(processed_feature_data) == 1
    assert alone.count(model_promotions, model_promotions.c.decision == "promoted") == 1
    assert (
        alone.count(latest_predictions, latest_predictions.c.kind == "daily") == 0
    )  # training predicts nothing
