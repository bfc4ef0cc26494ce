"""The training commands (`ingest | process | scale | optimize | train | promote`): key output last."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date
from pathlib import Path

import pytest

from stockpredictor.calendar import trading_days
from stockpredictor.config import DATABASE_URL_ENV, MLFLOW_URI_ENV, Settings
from tests.support.cli import command, invoke, key_output
from tests.support.overrides import ANY_FIRST_MODEL_PASSES, SAMPLE_DATASET, tickers
from tests.support.sample_dataset import SampleStore


def test_dataset_commands_print_their_key_output_last_and_name_what_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "STOCKPREDICTOR_DATA_DIR": str(tmp_path)}
    base = command(tickers("IBM"), "data.start=2005-01-01")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=300)

    expected_rows = len(trading_days(date(2005, 1, 1), date(2006, 6, 30)))
    assert key_output(run("ingest", "--as-of", "2006-06-30")) == str(expected_rows)
    run_id = key_output(run("process", "--as-of", "2006-06-30"))
    assert key_output(run("scale", "--dataset-run-id", run_id)) == run_id
    missing = run("scale", "--dataset-run-id", "nope")  # the README: no such dataset is exit code 3
    assert missing.returncode == 3 and "'nope'" in missing.stderr and "Traceback" not in missing.stderr
    typo = subprocess.run([*command("data.tikers=[IBM]"), "ingest"], env=env, capture_output=True, text=True)
    assert typo.returncode == 2 and "data.tikers" in typo.stderr and "params.yaml" in typo.stderr


@pytest.mark.slow
def test_optimize_train_promote_and_roll_back(
    sample_store: SampleStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, settings.database_url)
    monkeypatch.setenv(MLFLOW_URI_ENV, settings.mlflow_tracking_uri)

    def last_line(*args: str) -> str:
        overrides = [*SAMPLE_DATASET, "optimize.n_trials=2", *ANY_FIRST_MODEL_PASSES]
        return key_output(invoke(*args, overrides=overrides))

    best = json.loads(last_line("optimize", "--dataset-run-id", sample_store.run_id))
    assert best["architecture"] == "lstm"
    mlflow_run_id = last_line("train", "--dataset-run-id", sample_store.run_id)
    assert len(mlflow_run_id) == 32
    # the README's gate with no evidence asked and any loss ratio tolerated: a first model is promoted
    assert last_line("promote", "--mlflow-run-id", mlflow_run_id, "--as-of", "2007-06-29") == "promoted"
    assert json.loads(last_line("production-model"))["mlflow_run_id"] == mlflow_run_id
    assert last_line("promote", "--version", "1", "--force") == "forced"
    assert (
        last_line("promote", "--version", "1") == "rejected"
    )  # already production: never compared with itself
