"""`stockpredictor optimize | train | promote`: the key output is the last stdout line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from stockpredictor.cli import app
from stockpredictor.config import DATABASE_URL_ENV, MLFLOW_URI_ENV, Settings
from tests.conftest import REPO
from tests.training.conftest import TINY, SampleStore


def test_optimize_train_promote_and_roll_back(
    sample_store: SampleStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, settings.database_url)
    monkeypatch.setenv(MLFLOW_URI_ENV, settings.mlflow_tracking_uri)
    options = ["--params", str(REPO / "params.yaml"), *(f"--set={o}" for o in [*TINY, "optimize.n_trials=2"])]
    runner = CliRunner()

    def last_line(*args: str) -> str:
        result = runner.invoke(app, [*options, *args])
        assert result.exit_code == 0, result.output
        return result.stdout.strip().splitlines()[-1]

    best = json.loads(last_line("optimize", "--dataset-run-id", sample_store.run_id))
    assert best["architecture"] == "lstm"
    mlflow_run_id = last_line("train", "--dataset-run-id", sample_store.run_id)
    assert len(mlflow_run_id) == 32
    assert last_line("promote", "--mlflow-run-id", mlflow_run_id, "--as-of", "2007-06-29") in (
        "promoted",
        "rejected",
    )
    assert last_line("promote", "--version", "1", "--force") == "forced"
    assert (
        last_line("promote", "--version", "1") == "rejected"
    )  # already production: never compared with itself
