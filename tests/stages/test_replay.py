"""The shared replay (20 trading days, 4 tickers): predictions every day, evaluations, retraining, report."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import select

from stockpredictor.calendar import trading_days
from stockpredictor.db.datasets import load_processed
from stockpredictor.db.schema import raw_stock_data
from stockpredictor.stages.monitor import INSUFFICIENT_DATA, RETRAIN
from tests.support.replay import REPLAY_END, REPLAY_START, TICKERS, Replayed

pytestmark = pytest.mark.slow  # the shared replay trains models


def test_every_day_has_predictions_and_every_ticker_evaluated_days(replayed: Replayed) -> None:
    days = replayed.result.days
    assert [d.day for d in days] == trading_days(REPLAY_START, REPLAY_END)
    assert len(days) == 20
    assert all(d.prediction is not None and len(d.prediction.predictions) == len(TICKERS) for d in days)

    outcomes = pd.read_csv(replayed.result.report.predictions_csv, parse_dates=["as_of_date", "target_date"])
    assert len(outcomes) == 20 * len(TICKERS)
    evaluated = outcomes[outcomes["actual_close"].notna()]
    # the last day's target is later
    assert evaluated.groupby("ticker").size().to_dict() == dict.fromkeys(TICKERS, 19)
    assert outcomes.loc[outcomes["actual_close"].isna(), "as_of_date"].dt.date.unique().tolist() == [
        REPLAY_END
    ]
    with replayed.engine.connect() as conn:
        close = conn.execute(
            select(raw_stock_data.c.close).where(
                raw_stock_data.c.ticker == "IBM", raw_stock_data.c.date == date(2012, 10, 31)
            )
        ).scalar_one()
    row = evaluated[(evaluated["ticker"] == "IBM") & (evaluated["target_date"] == "2012-10-31")].iloc[0]
    assert row["actual_close"] == pytest.approx(close)
    assert row["error"] == pytest.approx(row["predicted_close"] - close)
    assert outcomes["previous_close"].notna().all()  # the close before each as-of session: last move


def test_training_on_bootstrap_and_on_retrain_never_sees_the_future(replayed: Replayed) -> None:
    events = [(e.day, e.trigger) for d in replayed.result.days for e in d.trainings]
    assert events[0] == (
        REPLAY_START,
        "no production model; 0 training(s) in the last 126 sessions < max_trainings 2",
    )
    assert [day for day, _ in events[1:]] == [REPLAY_END]
    assert "> max_mape 1e-09% (hard guard)" in events[1][1]
    assert events[1][1].endswith("; 1 training(s) in the last 126 sessions < max_trainings 2")
    decisions = [d.monitor.decision for d in replayed.result.days if d.monitor]
    assert decisions == [RETRAIN] + [INSUFFICIENT_DATA] * 18 + [RETRAIN]  # one decision a day
    with replayed.engine.connect() as conn:
        for d in replayed.result.days:
            for event in d.trainings:
                dataset = load_processed(conn, event.result.dataset_run_id)
                assert dataset.as_of == d.day
                assert dataset.panel.dates[-1].item() <= d.day


def test_horizon_is_the_next_trading_day(replayed: Replayed) -> None:
    targets = {d.day: d.prediction.target_date for d in replayed.result.days if d.prediction}
    assert targets[date(2012, 10, 26)] == date(2012, 10, 31)  # Friday -> weekend and Sandy closure skipped
    assert targets[date(2012, 11, 2)] == date(2012, 11, 5)  # Friday -> Monday
    assert targets[date(2012, 11, 21)] == date(2012, 11, 23)  # the day before Thanksgiving -> Friday
    assert targets[date(2012, 11, 13)] == date(2012, 11, 14)  # an ordinary day
    historical = replayed.settings.predictions_dir / "historical"
    assert len(list(historical.glob("*.json"))) == 20
    document = json.loads((historical / "2012-10-26.json").read_text())
    assert (document["as_of_date"], document["target_date"]) == ("2012-10-26", "2012-10-31")
    latest = json.loads((replayed.settings.predictions_dir / "latest_predictions.json").read_text())
    assert (latest["as_of_date"], latest["target_date"]) == ("2012-11-21", "2012-11-23")


def test_report_has_summary_and_a_chart_per_ticker(replayed: Replayed) -> None:
    report = replayed.result.report
    summary = report.summary.read_text()
    for heading in (
        "## Served forecasts",
        "## Demotions",
        "## Per model",
        "## Per ticker",
        "## Retrain events and promotions",
        "## Monitor decisions",
        "## Days",
    ):
        assert heading in summary
    assert "| retrain | 2 |\n| insufficient_data | 18 |\n" in summary
    assert f"| {REPLAY_END} | 19 | MAPE " in summary  # sessions since the bootstrap training
    assert "| v1 | 80 | 76 |" in summary  # v1 made every prediction of the range (20 days x 4 tickers)
    assert "persistence MAE" in summary and "no production model" in summary
    assert "always-up dir. acc." in summary and "last-move dir. acc." in summary
    assert "persistence dir. acc." not in summary
    assert "| lstm | v1 | 20 | 80 |" in summary  # the family that served, its sessions and predictions
    assert "log-return MAE / persistence" in summary and "DM p (worse)" in summary
    assert "- Scale-free loss (absolute log-return error" in summary and "(persistence: no call)" in summary
    assert "- no demotion" in summary and "DEFECT" not in summary
    assert [p.name for p in report.charts] == [f"{ticker}.png" for ticker in TICKERS] + ["calibration.png"]
    for chart in report.charts:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
