"""Real `kfp.local` runs of the daily pipeline on one store, checked by what landed in the store and registry,
and by what the run page will show: each task's executor output and cards, against the store.

One module-scoped store goes through the product's first days on the bundled sample data:
2012-12-31 (empty store: bootstrap training), 2013-01-02 (predict; nothing has matured yet, so no
retraining) and 2013-01-03 (the 2013-01-03 prediction has matured; thresholds forced: retraining).
Every run posts its alerts to a real webhook receiver on 127.0.0.1.
Every training searches with two parallel workers (the ParallelFor of `optimize_search`, real OS
processes on the one SQLite store, as the pods of a cluster share PostgreSQL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from sqlalchemy import ColumnElement, Engine, Table, func, select
from typer.testing import Result

from stockpredictor.db.datasets import load_processed, load_scaled
from stockpredictor.db.engine import make_engine
from stockpredictor.db.optimization import load_optimization
from stockpredictor.db.schema import (
    latest_predictions,
    model_performance_log,
    model_promotions,
    monitor_decisions,
    processed_feature_data,
    raw_stock_data,
)
from stockpredictor.stages.optimize import run_worker
from stockpredictor.stages.optimize_study import storage_for, study_name
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


def artifact_metadata(run_dir: Path, task: str, name: str) -> dict[str, Any]:
    """The metadata of a task's output artifact in its executor output (what the UI shows of it)."""
    document = json.loads((run_dir / task / "executor_output.json").read_text())
    [artifact] = document["artifacts"][name]["artifacts"]
    return dict(artifact["metadata"])


def matrix(run_dir: Path, name: str) -> np.ndarray:
    """A confusion matrix of the train task (rows: actual down / no change / up; columns: called)."""
    confusion = artifact_metadata(run_dir, "train", name)["confusionMatrix"]
    assert [spec["displayName"] for spec in confusion["annotationSpecs"]] == ["down", "no change", "up"]
    return np.array([row["row"] for row in confusion["rows"]])


def card(run_dir: Path, task: str, name: str = "summary") -> str:
    return (run_dir / task / name).read_text()


def self_contained(page: str) -> bool:
    """HTML the UI's sandboxed frame shows as it is: no script, nothing fetched from elsewhere."""
    sources = re.findall(r'src="([^"]*)"', page)
    return "<script" not in page and "href=" not in page and all(s.startswith("data:") for s in sources)


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


def test_the_training_cards_show_what_the_store_holds(store: Store, bootstrap: Path) -> None:
    with store.engine.connect() as conn:
        rows: dict[str, int] = dict(
            conn.execute(
                select(raw_stock_data.c.ticker, func.count()).group_by(raw_stock_data.c.ticker)
            ).all()
        )
    assert artifact_metadata(bootstrap, "ingest", "rows_added") == {**rows, "rows_refused": 0}
    assert all(f"| {t} | {rows[t]} | " in card(bootstrap, "ingest") for t in TICKERS)
    assert "0 refused" in card(bootstrap, "ingest") and "| AAPL | 0 | - | 0 |" in card(bootstrap, "ingest-2")

    dataset_run_id = task_output(bootstrap, "process")
    with store.engine.connect() as conn:
        panel = load_processed(conn, dataset_run_id).panel
        scaled = load_scaled(conn, dataset_run_id)
        search = load_optimization(conn, dataset_run_id)
    days, cells = len(panel.dates), panel.close.size
    processed = card(bootstrap, "process")
    assert processed.startswith(f"# Dataset `{dataset_run_id}`")
    assert f"{days} sessions ({panel.dates[0]}..{panel.dates[-1]}) x {len(TICKERS)} tickers" in processed
    assert f": {int((~panel.present).sum())} of {cells} (" in processed

    split = scaled.split
    assert artifact_metadata(bootstrap, "scale", "split") | {"stored_bytes": 0} == {
        "train_windows": split.train,
        "validation_windows": split.validation,
        "test_windows": split.test,
        "sequence_length": scaled.sequence_length,
        "stored_bytes": 0,
    }
    test_ends = panel.dates[scaled.windows("test").end_days[[0, -1]]]
    assert f"| test | {split.test} | {test_ends[0]} | {test_ends[1]} |" in card(bootstrap, "scale")

    assert search is not None
    assert artifact_metadata(bootstrap, "optimize-collect", "study") == {
        "best_validation_loss": search.best_value,
        "complete_trials": search.n_complete,
        "pruned_trials": search.n_pruned,
    }
    searched = card(bootstrap, "optimize-collect")
    assert f"{search.n_complete} complete, {search.n_pruned} pruned" in searched
    assert f"Best validation loss {search.best_value:.6g}" in searched
    assert f"| architecture | {search.best_params['architecture']} |" in searched
    history = card(bootstrap, "optimize-collect", "history")
    assert history.count('src="data:image/png;base64,') == 1 and self_contained(history)


def test_the_train_and_promote_cards_show_the_logged_metrics_and_the_decision(
    store: Store, bootstrap: Path
) -> None:
    mlflow_run_id = task_output(bootstrap, "train")
    logged = store.registry.get_run(mlflow_run_id).data.metrics
    shown = artifact_metadata(bootstrap, "train", "test_metrics")
    assert shown and shown == {name: pytest.approx(logged[name]) for name in shown}
    report = card(bootstrap, "train", "report")
    assert f"| log-return MAE (scale-free, primary) | {logged['test_log_mae']:.6f} |" in report
    figures = card(bootstrap, "train", "figures")
    curves = ["loss curves"] if logged["epochs_trained"] > 0 else []  # a tabular model has no epochs
    names = re.findall(r'data-name="([^"]+)"', figures)  # every ticker: fewer than max_ticker_plots
    assert names[: len(curves) + 1] == [*curves, "summary"] and sorted(names[len(curves) + 1 :]) == sorted(
        TICKERS
    )
    assert self_contained(figures)
    model, always_up, last_move = (
        matrix(bootstrap, n) for n in ("direction", "direction_always_up", "direction_last_move")
    )
    assert model.sum() == always_up.sum() > 0  # every scored test cell, once
    calls = model[:, [0, 2]]  # a forecast at the last close calls no move: left out of the accuracy
    assert (model[0, 0] + model[2, 2]) / calls.sum() == pytest.approx(logged["test_directional_accuracy"])
    assert always_up[:, 2].sum() == always_up.sum()  # it always calls up
    assert always_up[2].sum() / always_up.sum() == pytest.approx(
        logged["test_always_up_directional_accuracy"]
    )
    assert np.trace(last_move) / last_move.sum() == pytest.approx(
        logged["test_last_move_directional_accuracy"]
    )

    with store.engine.connect() as conn:
        decision, reason, metrics = conn.execute(
            select(model_promotions.c.decision, model_promotions.c.reason, model_promotions.c.metrics)
        ).one()
    promoted = card(bootstrap, "promote")
    assert promoted.startswith(f"# Promotion: version 1 {decision}") and f"Reason: {reason}" in promoted
    assert (
        f"| candidate | {metrics['candidate_log_mae']:.6f} | {metrics['candidate_log_mae_ratio']:.4f} |"
        in promoted
    )
    assert f"Gate window: {metrics['window']['n_days']} trading days" in promoted
    comparison = artifact_metadata(bootstrap, "promote", "comparison")
    assert comparison == {name: pytest.approx(metrics[name]) for name in comparison}


def monitor_shows_its_stored_decision(store: Store, run_dir: Path, as_of: str) -> str:
    """The monitor's card and window metrics against its row in `monitor_decisions`; returns the card."""
    query = select(monitor_decisions.c.decision, monitor_decisions.c.reason, monitor_decisions.c.statistics)
    with store.engine.connect() as conn:
        decision, reason, statistics = conn.execute(
            query.where(monitor_decisions.c.as_of_date == date.fromisoformat(as_of))
        ).one()
    summary = card(run_dir, "monitor")
    assert summary.startswith(f"# Monitor {as_of}: {decision}\n") and f"Reason: {reason}" in summary
    window = artifact_metadata(run_dir, "monitor", "window_metrics")
    new = window.pop("new_evaluations")
    assert f"{new} matured prediction(s) evaluated in this run." in summary
    assert window == {name: pytest.approx(statistics[name]) for name in window}
    return summary


def test_daily_run_predicts_and_does_not_retrain_when_monitoring_does_not_ask(
    store: Store, second_day: Path
) -> None:
    production = store.production()
    assert production is not None
    assert store.daily_predictions(date(2013, 1, 3)) == dict.fromkeys(TICKERS, production.run_id)
    assert len(store.versions()) == 1  # no training ran
    assert store.count(processed_feature_data) == 1
    assert task_output(second_day, "monitor") == "insufficient_data"
    monitor = monitor_shows_its_stored_decision(store, second_day, "2013-01-02")
    assert "No evaluated session of the production model in the window yet." in monitor
    table = (second_day / "predict" / "table").read_text()
    assert "Predicted closes for 2013-01-03" in table and all(f"| {t} |" in table for t in TICKERS)
    with store.engine.connect() as conn:
        forecasts = conn.execute(
            select(latest_predictions.c.ticker, latest_predictions.c.predicted_close).where(
                latest_predictions.c.kind == "daily", latest_predictions.c.target_date == date(2013, 1, 3)
            )
        ).all()
    assert all(f"| {ticker} | " in table and f" | {close:.2f} | " in table for ticker, close in forecasts)
    assert table.count(" 80% ") == len(TICKERS)  # each forecast with its intervals
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
    monitor = monitor_shows_its_stored_decision(store, run_dir, "2013-01-03")
    assert "| n_days | 1 |" in monitor and "| mape |" in monitor
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
