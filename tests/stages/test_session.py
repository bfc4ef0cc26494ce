"""The daily run's session check on real SQLite and PostgreSQL: a scheduled run (as_of empty) whose
session was already predicted from has "no new session"; an explicit as_of always goes ahead."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine

from stockpredictor.db.predictions import upsert_predictions
from stockpredictor.sources.sample import SampleSource
from stockpredictor.stages.session import NEW_SESSION, NO_NEW_SESSION, session
from tests.support.overrides import repo_params

LAST_SAMPLE_DAY = SampleSource().default_as_of()


def store_daily_prediction(engine: Engine, as_of: date, kind: str = "daily") -> None:
    row = {
        "kind": kind,
        "model_run_id": "run",
        "model_version": "1",
        "ticker": "IBM",
        "as_of_date": as_of,
        "target_date": as_of,
        "last_close": 1.0,
        "predicted_close": 1.0,
        "created_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        upsert_predictions(conn, [row])


def test_a_scheduled_run_is_new_until_its_session_was_predicted_from(engine: Engine) -> None:
    params = repo_params()  # the sample source: as_of empty is its last day
    assert session(engine, params).status == NEW_SESSION
    store_daily_prediction(engine, LAST_SAMPLE_DAY, kind="test")  # a training's test prediction
    assert session(engine, params).status == NEW_SESSION
    store_daily_prediction(engine, date(2013, 2, 28))
    assert session(engine, params).status == NEW_SESSION
    store_daily_prediction(engine, LAST_SAMPLE_DAY)
    result = session(engine, params)
    assert (result.as_of, result.status) == (LAST_SAMPLE_DAY, NO_NEW_SESSION)
    assert f"latest completed session, {LAST_SAMPLE_DAY}, was already predicted from" in result.reason


def test_an_explicit_as_of_goes_ahead(engine: Engine) -> None:
    store_daily_prediction(engine, LAST_SAMPLE_DAY)
    assert session(engine, repo_params(), LAST_SAMPLE_DAY).status == NEW_SESSION
