"""The API on the store and registry of real daily runs (replay of the sample data, tiny training)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from stockpredictor.api import create_app
from stockpredictor.calendar import next_trading_day, trading_days
from stockpredictor.db.prices import load_prices
from stockpredictor.stages.common import store_engine
from stockpredictor.stages.monitor import monitor_model
from tests.api.conftest import DAILY_RUN, TICKERS, DailyRun


@pytest.fixture(scope="module")
def client(daily_run: DailyRun) -> Iterator[TestClient]:
    with TestClient(create_app(daily_run.settings, daily_run.params)) as test_client:
        yield test_client


def test_health_and_tickers(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    tickers = client.get("/tickers").json()
    assert [t["ticker"] for t in tickers] == list(TICKERS)
    assert {t["latest_prediction_as_of"] for t in tickers} == {str(DAILY_RUN[1])}


def test_latest_predictions_are_the_last_days_predictions(client: TestClient, daily_run: DailyRun) -> None:
    last = daily_run.result.days[-1].prediction
    assert last is not None
    body = client.get("/predictions/latest").json()
    assert body["as_of_date"] == str(last.last_day) == str(DAILY_RUN[1])
    assert [p["ticker"] for p in body["predictions"]] == list(TICKERS)
    for served, made in zip(body["predictions"], last.predictions, strict=True):
        assert (served["ticker"], served["last_close"]) == (made.ticker, made.last_close)
        assert served["predicted_close"] == pytest.approx(made.predicted_close)
        assert served["target_date"] == str(last.target_date) == str(next_trading_day(DAILY_RUN[1]))
        assert (served["mlflow_run_id"], served["model_version"]) == (
            last.mlflow_run_id,
            str(last.model_version),
        )


def test_history_has_one_prediction_per_day_with_the_actual_close(
    client: TestClient, daily_run: DailyRun
) -> None:
    days = trading_days(*DAILY_RUN)
    with store_engine(daily_run.settings).connect() as conn:
        closes = load_prices(conn, ["GOOG"], DAILY_RUN[1])["GOOG"]["close"]
    predictions = client.get("/predictions/GOOG").json()["predictions"]
    assert [p["as_of_date"] for p in predictions] == [str(day) for day in days]
    for p in predictions[:-1]:
        assert p["actual_close"] == closes.loc[p["target_date"]]
        assert p["last_close"] == closes.loc[p["as_of_date"]]
    assert predictions[-1]["actual_close"] is None  # its target day lies after the last run


def test_performance_is_the_monitors_window(client: TestClient, daily_run: DailyRun) -> None:
    production = client.get("/model").json()["mlflow_run_id"]
    (model,) = client.get("/performance").json()["models"]
    assert model["mlflow_run_id"] == production
    assert model["overall"]["evaluations"] == (len(trading_days(*DAILY_RUN)) - 1) * len(TICKERS)
    monitored = monitor_model(
        store_engine(daily_run.settings), daily_run.params, production, DAILY_RUN[1]
    ).metrics
    for name in ("mae", "mape", "directional_accuracy", "persistence_mae", "mae_ratio"):
        assert model["overall"][name] == pytest.approx(monitored[name]), name


def test_model_card_is_the_promoted_bootstrap_model(client: TestClient, daily_run: DailyRun) -> None:
    (training,) = daily_run.result.days[0].trainings
    card = client.get("/model").json()
    assert (card["mlflow_run_id"], card["version"]) == (
        training.result.mlflow_run_id,
        str(training.result.model_version),
    )
    assert card["dataset_run_id"] == training.result.dataset_run_id
    assert card["promotion_decision"] == "promoted" == training.result.promotion.decision
    assert card["promotion_reason"] == training.result.promotion.reason
    metrics = card["test_metrics"]
    assert {"test_mae", "test_persistence_mae", "test_mape", *(f"test_mae_{t}" for t in TICKERS)} <= set(
        metrics
    )
    assert metrics["test_mae"] > 0 and metrics["test_persistence_mae"] > 0
