"""Alerts reach a real HTTP receiver on 127.0.0.1 exactly once, in order, and wait while it is down."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from stockpredictor.config import Settings
from stockpredictor.stages.notify import RETRAIN, NotifyResult, notify, record_alert
from tests.support.webhook import webhook_receiver


def _settings(tmp_path: Path, url: str | None) -> Settings:
    return replace(Settings.from_env(), data_dir=tmp_path, alert_webhook_url=url)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


def test_each_event_is_posted_once_with_a_slack_text_and_its_fields(engine: Engine, tmp_path: Path) -> None:
    record_alert(engine, RETRAIN, "retraining the production model: MAE worse", mlflow_run_id="abc")
    record_alert(engine, "promoted", "candidate version 2 promoted: better", candidate_version=2)
    with webhook_receiver() as receiver:
        settings = _settings(tmp_path, receiver.url)
        assert notify(engine, settings, "stockpredictor-daily", "SUCCEEDED") == NotifyResult(2, 0)
        assert notify(engine, settings, "stockpredictor-daily", "SUCCEEDED") == NotifyResult(0, 0)
    assert receiver.events() == ["retrain", "promoted"]
    first = receiver.messages[0]
    assert first["text"] == "stockpredictor retrain: retraining the production model: MAE worse"
    assert {"title": "mlflow_run_id", "value": "abc", "short": True} in first["attachments"][0]["fields"]
    assert first["stockpredictor"]["mlflow_run_id"] == "abc"


def test_a_failed_run_is_reported_and_a_silent_webhook_keeps_events_for_the_next_run(
    engine: Engine, tmp_path: Path
) -> None:
    down = _settings(tmp_path, _closed_port_url())
    assert notify(engine, down, "stockpredictor-training", "FAILED", "Task exit-handler-1 failed.") == (
        NotifyResult(0, 1)
    )
    record_alert(engine, "rejected", "candidate version 3 rejected: worse than persistence")
    with webhook_receiver() as receiver:
        assert notify(engine, _settings(tmp_path, receiver.url), "stockpredictor-daily", "SUCCEEDED") == (
            NotifyResult(2, 0)
        )
    assert receiver.events() == ["failure", "rejected"]
    assert receiver.messages[0]["text"] == (
        "stockpredictor failure: stockpredictor-training failed: Task exit-handler-1 failed."
    )


def test_without_a_webhook_the_alert_is_logged(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record_alert(engine, RETRAIN, "retraining the production model: drift")
    with caplog.at_level("INFO", logger="stockpredictor.stages.notify"):
        assert notify(engine, _settings(tmp_path, None), "stockpredictor-daily", "SUCCEEDED") == NotifyResult(
            1, 0
        )
    assert "alert (no webhook configured): retraining the production model: drift" in caplog.text
