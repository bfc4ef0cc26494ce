"""production-model, prepare-input and predict on the replay's workspace: parity, refusals, reruns, CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from stockpredictor.cli import app
from stockpredictor.db.datasets import as_numpy_dates, load_processed, load_scaled
from stockpredictor.db.schema import latest_predictions
from stockpredictor.errors import InputWindowError, MissingDataError, StaleDataError
from stockpredictor.registry import model_info
from stockpredictor.stages.files import load_input
from stockpredictor.stages.monitor import INSUFFICIENT_DATA, OK, RETRAIN
from stockpredictor.stages.predict import predict
from stockpredictor.stages.prepare_input import prepare_input
from stockpredictor.stages.production_model import production_model
from tests.conftest import REPO
from tests.daily.conftest import REPLAY_END, REPLAY_START, TINY, Replayed


def bootstrap_dataset(replayed: Replayed) -> str:
    return replayed.result.days[0].trainings[0].result.dataset_run_id


# Serving reads warmup_days + sequence_length days of history: for these days that starts a year after
# the dataset's first day, so the EWM indicators (RSI, MACD, ATR) really have to have converged.
@pytest.mark.parametrize("as_of", [date(2012, 6, 29), REPLAY_START])  # inside the dataset, its last day
def test_parity_serving_window_equals_the_training_window(
    replayed: Replayed, tmp_path: Path, as_of: date
) -> None:
    dataset_run_id = bootstrap_dataset(replayed)
    with replayed.engine.connect() as conn:
        processed = load_processed(conn, dataset_run_id)
        scaled = load_scaled(conn, dataset_run_id)
    prepared = prepare_input(replayed.engine, replayed.params, dataset_run_id, as_of, tmp_path)
    window, sidecar = load_input(prepared.path)

    end = as_numpy_dates(processed.panel.dates).index(as_of)
    length = scaled.sequence_length
    assert window.shape == (1, length, 2, len(processed.panel.feature_columns)) and window.dtype == np.float32
    np.testing.assert_allclose(window[0], scaled.x_scaled[end - length + 1 : end + 1], rtol=0, atol=1e-6)
    assert sidecar["last_day"] == as_of.isoformat() == prepared.last_day.isoformat()
    assert sidecar["last_close"] == dict(
        zip(processed.panel.tickers, processed.panel.close[end].tolist(), strict=True)
    )


def test_stale_or_missing_data_is_refused(replayed: Replayed, tmp_path: Path) -> None:
    dataset_run_id = bootstrap_dataset(replayed)
    allowed = prepare_input(replayed.engine, replayed.params, dataset_run_id, date(2012, 11, 27), tmp_path)
    assert allowed.last_day == REPLAY_END  # 3 trading days old: max_stale_trading_days allows it
    with pytest.raises(StaleDataError, match=r"AAPL: 2012-11-21 is 4 trading days before 2012-11-28"):
        prepare_input(replayed.engine, replayed.params, dataset_run_id, date(2012, 11, 28), tmp_path)
    with pytest.raises(MissingDataError, match="no raw data up to 2010-01-04 for ticker"):
        prepare_input(replayed.engine, replayed.params, dataset_run_id, date(2010, 1, 4), tmp_path)


def test_predict_rerun_replaces_and_a_foreign_window_is_refused(replayed: Replayed, tmp_path: Path) -> None:
    first_model = replayed.result.days[0].prediction
    assert first_model is not None
    prepared = prepare_input(
        replayed.engine, replayed.params, bootstrap_dataset(replayed), REPLAY_END, tmp_path
    )

    def stored() -> int:
        with replayed.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(latest_predictions)).scalar_one())

    before = stored()
    results = [
        predict(replayed.engine, replayed.params, replayed.settings, prepared.path, first_model.model_uri)
        for _ in range(2)
    ]
    assert results[0].predictions == results[1].predictions
    assert results[1].target_date == date(2012, 11, 23)
    assert stored() == before  # the replay already predicted this day with this model: replaced, not added

    retrained = replayed.result.days[-1].trainings[0].result
    newer = model_info(f"models:/{replayed.params.train.model_name}/{retrained.model_version}")
    with pytest.raises(InputWindowError, match="was prepared for dataset"):
        predict(replayed.engine, replayed.params, replayed.settings, prepared.path, newer.model_uri)


def test_production_model_is_the_aliased_version(replayed: Replayed) -> None:
    found = production_model(replayed.params, replayed.settings)
    assert (
        found is not None and found.model_uri == f"models:/{replayed.params.train.model_name}/{found.version}"
    )
    expected = [e.result for d in replayed.result.days for e in d.trainings if e.result.promotion.promoted][
        -1
    ]
    assert (found.version, found.dataset_run_id) == (expected.model_version, expected.dataset_run_id)
    other = replayed.params.model_copy(
        update={"train": replayed.params.train.model_copy(update={"model_name": "NeverTrained"})}
    )
    assert production_model(other, replayed.settings) is None


def test_daily_commands_print_their_key_output_last(
    replayed: Replayed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPREDICTOR_DATABASE_URL", replayed.settings.database_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", replayed.settings.mlflow_tracking_uri)
    base = ["--params", str(REPO / "params.yaml"), *(a for o in TINY for a in ("--set", o))]

    def last_line(*args: str) -> str:
        result = CliRunner().invoke(app, [*base, *args])
        assert result.exit_code == 0, (args, result.output, result.exception)
        return str(result.stdout.strip().splitlines()[-1])

    found = json.loads(last_line("production-model"))
    assert set(found) == {"model_uri", "version", "mlflow_run_id", "dataset_run_id"}
    assert last_line("--set", "train.model_name=NeverTrained", "production-model") == "none"

    path = Path(
        last_line(
            "prepare-input",
            "--production-model-training-run-id",
            found["dataset_run_id"],
            "--as-of",
            "2012-11-21",
            "--output-dir",
            str(tmp_path),
        )
    )
    assert path.is_absolute() and path.is_file()
    document = Path(
        last_line(
            "predict",
            "--input-sequence-path",
            str(path),
            "--production-model-uri",
            found["model_uri"],
            "--as-of",
            "2012-11-21",
        )
    )
    assert json.loads(document.read_text())["target_date"] == "2012-11-23"
    assert last_line("monitor", "--as-of", "2012-11-21") in (RETRAIN, OK, INSUFFICIENT_DATA)

    wrong_day = CliRunner().invoke(
        app,
        [
            *base,
            "predict",
            "--input-sequence-path",
            str(path),
            "--production-model-uri",
            found["model_uri"],
            "--as-of",
            "2012-11-20",
        ],
    )
    assert wrong_day.exit_code == 2 and "not for --as-of 2012-11-20" in wrong_day.stderr
