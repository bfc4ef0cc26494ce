"""Errors at the command line: one line and the exit code of its kind for the `StockPredictorError`
family, a traceback and exit code 1 for anything else; the old id options still work, hidden."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stockpredictor.cli import app
from stockpredictor.errors import (
    ConfigError,
    DatasetNotFoundError,
    ModelNotFoundError,
    PipelineError,
    SourceError,
    StockPredictorError,
    UsageError,
)
from tests.conftest import REPO

PARAMS = ["--params", str(REPO / "params.yaml")]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, [*PARAMS, *args], env=env)


def error_line(result: Result) -> str:
    """The one line a family error prints (the last line of stderr), with no traceback before it."""
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_every_kind_has_its_own_exit_code() -> None:
    kinds: list[type[StockPredictorError]] = [StockPredictorError, *StockPredictorError.__subclasses__()]
    codes = [kind.exit_code for kind in kinds]
    assert len(set(codes)) == len(codes) and codes[0] == 1
    assert ConfigError.exit_code == UsageError.exit_code == 2


@pytest.mark.parametrize(
    ("args", "kind", "names"),
    [
        (["--set", "data.tikers=[IBM]", "ingest"], ConfigError, "data.tikers"),
        (["scale"], UsageError, "--dataset-run-id"),
        (["scale", "--dataset-run-id", "a", "--run-id", "b"], UsageError, "--run-id"),
        (["promote", "--mlflow-run-id", "abc", "--version", "1"], UsageError, "not both"),
        (["scale", "--dataset-run-id", "nope"], DatasetNotFoundError, "'nope'"),
        (["--set", "data.tickers=[ZZZZ]", "ingest", "--as-of", "2010-01-04"], SourceError, "ZZZZ"),
    ],
)
def test_a_family_error_is_one_line_and_its_kinds_exit_code(
    args: list[str], kind: type[StockPredictorError], names: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == kind.exit_code, result.output
    line = error_line(result)
    assert line.startswith("error:") and names in line


def test_registry_and_pipeline_errors(tmp_path: Path) -> None:
    store = {"MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true"}
    missing = invoke("promote", "--version", "7", env=store)
    assert missing.exit_code == ModelNotFoundError.exit_code and "no version 7" in error_line(missing)
    unreachable = invoke("pipeline", "upload", "daily", "--host", "http://127.0.0.1:9")
    assert unreachable.exit_code == PipelineError.exit_code
    assert "cannot reach Kubeflow Pipelines at http://127.0.0.1:9" in error_line(unreachable)


@pytest.mark.parametrize(
    ("args", "hidden", "shown"),
    [
        (["scale", "--run-id", "nope"], "--run-id", "--dataset-run-id"),
        (["optimize", "--run-id", "nope"], "--run-id", "--dataset-run-id"),
        (["train", "--run-id", "nope"], "--run-id", "--dataset-run-id"),
        (
            ["prepare-input", "--production-model-training-run-id", "nope", "--as-of", "2010-01-04"],
            "--production-model-training-run-id",
            "--dataset-run-id",
        ),
    ],
)
def test_old_id_options_are_hidden_aliases(args: list[str], hidden: str, shown: str) -> None:
    help_text = invoke(args[0], "--help").stdout
    assert shown in help_text and hidden not in help_text
    result = invoke(*args)  # the alias reaches the stage: the dataset is looked up by that id
    assert result.exit_code == DatasetNotFoundError.exit_code and "'nope'" in error_line(result)


def test_promote_takes_the_mlflow_run_id_also_as_run_id(tmp_path: Path) -> None:
    store = {"MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true"}
    assert "--mlflow-run-id" in invoke("promote", "--help").stdout
    assert "--run-id " not in invoke("promote", "--help").stdout
    result = invoke("promote", "--run-id", "0123abc", env=store)
    assert result.exit_code == ModelNotFoundError.exit_code
    assert "MLflow run '0123abc' registered no version" in error_line(result)


def test_any_other_error_shows_its_traceback_and_exits_1(tmp_path: Path) -> None:
    """A store that does not answer is not a user error the CLI knows: the traceback says what happened."""
    env = {
        **os.environ,
        "STOCKPREDICTOR_DATA_DIR": str(tmp_path),
        "STOCKPREDICTOR_DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:9/nothing",
    }
    result = subprocess.run(
        [sys.executable, "-m", "stockpredictor", *PARAMS, "scale", "--dataset-run-id", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "OperationalError" in result.stderr
