"""A scheduled daily run (no as_of) on a session the daily pipeline already predicted from — a weekend,
a holiday, a second run the same evening — succeeds with "no new session" and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stockpredictor.db.engine import make_engine
from stockpredictor.db.predictions import upsert_predictions
from stockpredictor.db.schema import metadata
from stockpredictor.sources.sample import SampleSource
from stockpredictor.stages.session import NO_NEW_SESSION
from tests.support.cli import invoke, key_output
from tests.support.overrides import LOCAL_RUN

pytestmark = pytest.mark.slow


def table_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        counts = {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in metadata.tables.items()
        }
    engine.dispose()
    return counts


def test_a_daily_run_on_a_session_already_predicted_from_changes_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'stockpredictor.db'}"
    env = {
        "STOCKPREDICTOR_DATA_DIR": str(data_dir),
        "STOCKPREDICTOR_DATABASE_URL": url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{data_dir / 'mlflow.db'}",
    }
    key_output(invoke("ingest", overrides=LOCAL_RUN, env=env))  # the latest session is in the store
    session = SampleSource().default_as_of()  # what an empty as_of means with the sample source
    prediction = {
        "kind": "daily",
        "model_run_id": "earlier-run",
        "model_version": "1",
        "ticker": "IBM",
        "as_of_date": session,
        "target_date": session,
        "last_close": 1.0,
        "predicted_close": 1.0,
        "created_at": datetime.now(UTC),
    }
    engine = make_engine(url)
    with engine.begin() as conn:
        upsert_predictions(conn, [prediction])  # the daily pipeline already predicted from it
    engine.dispose()
    before = table_counts(url)

    result = invoke("pipeline", "run", "daily", overrides=LOCAL_RUN, env=env)
    run_dir = Path(key_output(result))

    output = json.loads((run_dir / "session" / "executor_output.json").read_text())
    assert output["parameterValues"]["Output"] == NO_NEW_SESSION
    assert not (run_dir / "production-model").exists() and not (run_dir / "predict").exists()
    assert table_counts(url) == before
    assert not (data_dir / "mlflow.db").exists()  # the registry was not even opened
    assert (
        f"{NO_NEW_SESSION}: the latest completed session, {session}"
        in (run_dir.parent / "logs" / "session.log").read_text()
    )
