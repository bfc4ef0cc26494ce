"""The API on the store and registry of the shared replay of real daily runs (sample data, tiny training)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from stockpredictor.api import create_app
from stockpredictor.calendar import next_trading_day, trading_days
from stockpredictor.db.prices import load_prices
from stockpredictor.stages.monitor import monitor_model
from tests.support.replay import REPLAY_END, REPLAY_START, TICKERS, Replayed

pytestmark = pytest.mark.slow  # the shared replay trains models


@pytest.fixture(scope="module")
def client(replayed: Replayed) -> Iterator[TestClient]:
    with TestClient(create_app(replayed.settings, replayed.params)) as test_client:
        yield test_client


def test_ready_and_tickers(client: TestClient) -> None:
    assert client.get("/readyz").json() == {"status": "ready"}
    tickers = client.get("/tickers").json()
    assert [t["ticker"] for t in tickers] == list(TICKERS)
    assert {t["latest_prediction_as_of"] for t in tickers} == {str(REPLAY_END)}


def test_latest_predictions_are_the_last_days_predictions(client: TestClient, replayed: Replayed) -> None:
    last = replayed.result.days[-1].prediction
    assert last is not None
    body = client.get("/predictions/latest").json()
    assert body["as_of_date"] == str(last.last_day) == str(REPLAY_END)
    assert [p["ticker"] for p in body["predictions"]] == list(TICKERS)
    for served, made in zip(body["predictions"], last.predictions, strict=True):
        assert (served["ticker"], served["last_close"]) == (made.ticker, made.last_close)
        assert served["predicted_close"] == pytest.approx(made.predicted_close)
        assert served["target_date"] == str(last.target_date) == str(next_trading_day(REPLAY_END))
        assert (served["mlflow_run_id"], served["model_version"]) == (
            last.mlflow_run_id,
            str(last.model_version),
        )


def test_history_has_one_prediction_per_day_with_the_actual_close(
    client: TestClient, replayed: Replayed
) -> None:
    days = trading_days(REPLAY_START, REPLAY_END)
    with replayed.engine.connect() as conn:
        closes = load_prices(conn, ["GOOG"], REPLAY_END)["GOOG"]["close"]
    predictions = client.get("/predictions/GOOG").json()["predictions"]
    assert [p["as_of_date"] for p in predictions] == [str(day) for day in days]
    for p in predictions[:-1]:
        assert p["actual_close"] == closes.loc[p["target_date"]]
        assert p["last_close"] == closes.loc[p["as_of_date"]]
    assert predictions[-1]["actual_close"] is None  # its target day lies after the last run


def test_performance_is_the_monitors_window(client: TestClient, replayed: Replayed) -> None:
    predicting = replayed.bootstrap.result.mlflow_run_id  # every prediction of the range is its
    (model,) = client.get("/performance").json()["models"]
    assert model["mlflow_run_id"] == predicting
    assert model["overall"]["evaluations"] == (len(trading_days(REPLAY_START, REPLAY_END)) - 1) * len(TICKERS)
    monitored = monitor_model(replayed.engine, replayed.params, predicting, REPLAY_END).metrics
    for name in ("mae", "mape", "directional_accuracy", "persistence_mae", "mae_ratio", "log_mae_ratio"):
        assert model["overall"][name] == pytest.approx(monitored[name]), name


def test_model_card_is_the_last_promoted_model(client: TestClient, replayed: Replayed) -> None:
    promoted = [e.result for e in replayed.trainings if e.result.promotion.promoted][-1]
    card = client.get("/model").json()
    assert (card["mlflow_run_id"], card["version"]) == (promoted.mlflow_run_id, str(promoted.model_version))
    assert card["dataset_run_id"] == promoted.dataset_run_id
    assert card["promotion_decision"] == "promoted" == promoted.promotion.decision
    assert card["promotion_reason"] == promoted.promotion.reason
    metrics = card["test_metrics"]
    assert {"test_mae", "test_persistence_mae", "test_mape", *(f"test_mae_{t}" for t in TICKERS)} <= set(
        metrics
    )
    assert metrics["test_mae"] > 0 and metrics["test_persistence_mae"] > 0


def test_every_forecast_carries_its_volatility_and_nested_intervals(
    client: TestClient, replayed: Replayed
) -> None:
    """The intervals served are those `predict` computed: central, nested, around the forecast."""
    last = replayed.result.days[-1].prediction
    assert last is not None
    body = client.get("/predictions/latest").json()
    for served, made in zip(body["predictions"], last.predictions, strict=True):
        assert made.volatility is not None and made.intervals is not None
        assert served["volatility"] == pytest.approx(made.volatility) and 0.001 < served["volatility"] < 0.1
        assert [i["level"] for i in served["intervals"]] == list(replayed.params.intervals.levels)
        inner, outer = served["intervals"]
        assert [inner["lower"], inner["upper"]] == pytest.approx(made.intervals["0.8"])
        assert outer["lower"] < inner["lower"] < served["predicted_close"] < inner["upper"] < outer["upper"]
    history = client.get(f"/predictions/{TICKERS[0]}").json()["predictions"]
    assert all(len(p["intervals"]) == 2 for p in history)
