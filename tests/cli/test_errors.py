"""Errors at the command line: one line and the exit code of its kind for the `StockPredictorError`
family, a traceback and exit code 1 for anything else; the old id options still work, hidden."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from stockpredictor.calendar import latest_completed_session
from stockpredictor.cli import app
from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.errors import (
    ConfigError,
    DatasetNotFoundError,
    ModelNotFoundError,
    PipelineError,
    ResourceError,
    SourceError,
    StockPredictorError,
    StoreError,
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
        (["operate", "--start", "2013-03-02", "--end", "2013-03-03"], UsageError, "no trading day between"),
        (["operate", "--start", "1999-12-01", "--end", "2000-01-05"], UsageError, "before data.start"),
        (["--set", "data.tickers=[ZZZZ]", "ingest", "--as-of", "2010-01-04"], SourceError, "ZZZZ"),
        (
            ["--set", "data.tickers=[ZZZZ,YYYY]", "ingest", "--as-of", "2010-01-04"],
            SourceError,
            "ingest stored nothing: every ticker failed; ZZZZ: not in the sample data (available: AAPL, ",
        ),
        (
            [
                "--set",
                "data.tickers=[IBM,ZZZZ]",
                "--set",
                "data.start=2009-12-01",
                "ingest",
                "--as-of",
                "2010-01-04",
            ],
            SourceError,
            "ingest failed for ZZZZ: ZZZZ: not in the sample data (available: AAPL, ",
        ),
    ],
)
def test_a_family_error_is_one_line_and_its_kinds_exit_code(
    args: list[str], kind: type[StockPredictorError], names: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == kind.exit_code, result.output
    line = error_line(result)
    assert line.startswith("error:") and names in line


#: The bad inputs of issue 15 that printed tracebacks or were accepted: (args, environment, kind, the
#: start of the one line each now prints after "error: "). PostgreSQL lost mid-stage has its own test.
BAD_INPUTS = [
    (
        ["ingest"],
        {"STOCKPREDICTOR_DATABASE_URL": "ftp://user:s3cret@host/db"},
        ConfigError,
        "STOCKPREDICTOR_DATABASE_URL='ftp://user:***@host/db' has the unsupported scheme 'ftp'",
    ),
    (
        ["ingest"],
        {"STOCKPREDICTOR_DATABASE_URL": "garbage"},
        ConfigError,
        "STOCKPREDICTOR_DATABASE_URL='garbage' is not a URL: use sqlite:///PATH or postgresql://",
    ),
    (
        ["ingest"],
        {"STOCKPREDICTOR_DATABASE_URL": "postgresql://user:s3cret@host:port/db"},
        ConfigError,
        "STOCKPREDICTOR_DATABASE_URL='postgresql://user:***@host:port/db' is malformed",
    ),
    (
        ["promote"],
        {"MLFLOW_TRACKING_URI": "ftp://user:s3cret@host/mlflow"},
        ConfigError,
        "MLFLOW_TRACKING_URI='ftp://user:***@host/mlflow' has the unsupported scheme 'ftp'",
    ),
    (
        ["promote"],
        {"MLFLOW_TRACKING_URI": "garbage"},
        ConfigError,
        "MLFLOW_TRACKING_URI='garbage' is not a URL: use http(s)://HOST:PORT",
    ),
    (
        ["scale", "--dataset-run-id", "x"],
        {"STOCKPREDICTOR_DATABASE_URL": "postgresql://nobody:s3cret@127.0.0.1:9/nothing"},
        StoreError,
        "store postgresql://nobody:***@127.0.0.1:9/nothing (STOCKPREDICTOR_DATABASE_URL): connection refused",
    ),
    (
        ["--params", str(REPO), "ingest"],
        {},
        ConfigError,
        f"{REPO}: is a folder; --params takes a params.yaml",
    ),
    (
        ["--set", "features.warmup_days=1e9", "process"],
        {},
        ConfigError,
        "params.yaml: key 'features.warmup_days': Input should be less than or equal to 2520",
    ),
    (
        ["--set", "promotion.persistence_tolerance=.inf", "promote"],
        {},
        ConfigError,
        "params.yaml: key 'promotion.persistence_tolerance': Input should be a finite number",
    ),
    (
        ["--set", "optimize.n_trials=1e12", "optimize"],
        {},
        ConfigError,
        "params.yaml: key 'optimize.n_trials': Input should be less than or equal to 10000",
    ),
    (
        ["--set", "monitoring.window_days=1e9", "monitor"],
        {},
        ConfigError,
        "params.yaml: key 'monitoring.window_days': Input should be less than or equal to 2520",
    ),
    (
        ["--set", "sequences.sequence_length=1e9", "scale"],
        {},
        ConfigError,
        "params.yaml: key 'sequences.sequence_length': Input should be less than or equal to 1000",
    ),
    (["serve", "--port", "70000"], {}, UsageError, "--port 70000 is outside 1..65535"),
    (
        ["ingest", "--as-of", "2031-01-03"],
        {},
        UsageError,
        f"as_of 2031-01-03 is after the latest completed NYSE session, {latest_completed_session()} ",
    ),
    (
        ["process", "--as-of", "2031-01-03"],
        {},
        UsageError,
        f"as_of 2031-01-03 is after the latest completed NYSE session, {latest_completed_session()} ",
    ),
    (
        ["ingest", "--as-of", "2010-01-09"],
        {},
        UsageError,
        "as_of 2010-01-09 is not an NYSE session (a weekend); the session before it is 2010-01-08",
    ),
    (
        ["process", "--as-of", "2010-01-18"],
        {},
        UsageError,
        "as_of 2010-01-18 is not an NYSE session (a holiday); the session before it is 2010-01-15",
    ),
    (
        ["monitor", "--as-of", "2010-01-10"],
        {},
        UsageError,
        "as_of 2010-01-10 is not an NYSE session (a weekend); the session before it is 2010-01-08",
    ),
    (
        ["prepare-input", "--dataset-run-id", "x", "--as-of", "2012-12-25"],
        {},
        UsageError,
        "as_of 2012-12-25 is not an NYSE session (a holiday); the session before it is 2012-12-24",
    ),
    (
        ["ingest", "--as-of", "2010-01-04"],
        {"STOCKPREDICTOR_DATA_DIR": str(REPO / "params.yaml" / "data")},
        ResourceError,
        f"store sqlite:///{REPO / 'params.yaml' / 'data' / 'stockpredictor.db'} "
        "(STOCKPREDICTOR_DATABASE_URL): "
        f"{REPO / 'params.yaml'} is a file, not a folder; choose another path",
    ),
]


@pytest.mark.parametrize(("args", "env", "kind", "line"), BAD_INPUTS)
def test_each_bad_input_of_issue_15_prints_one_line(
    args: list[str], env: dict[str, str], kind: type[StockPredictorError], line: str
) -> None:
    result = invoke(*args, env=env)
    assert result.exit_code == kind.exit_code, result.output
    assert "Traceback" not in result.stderr and "s3cret" not in result.output
    (printed,) = result.stderr.strip().splitlines()
    assert printed.startswith("error: ") and line in printed, printed


def test_an_unknown_dataset_is_refused_before_the_search_writes_its_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = invoke("optimize", "--dataset-run-id", "nope", env={"STOCKPREDICTOR_DATABASE_URL": url})
    assert result.exit_code == DatasetNotFoundError.exit_code and "'nope'" in error_line(result)
    engine = make_engine(url)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        studies = conn.execute(text("SELECT count(*) FROM studies")).scalar() if "studies" in tables else 0
    engine.dispose()
    assert studies == 0


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
    """A store whose schema lacks a table is a bug, not a user error: the traceback says what happened."""
    path = tmp_path / "store.db"
    migrate(make_engine(f"sqlite:///{path}"))
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE raw_stock_data")
    env = {**os.environ, "STOCKPREDICTOR_DATABASE_URL": f"sqlite:///{path}"}
    result = subprocess.run(
        [sys.executable, "-m", "stockpredictor", *PARAMS, "ingest", "--as-of", "2010-01-04"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "no such table" in result.stderr


def test_a_postgresql_connection_lost_mid_stage_is_one_line_naming_the_hidden_url(
    pg_url: str, pg_admin: Engine
) -> None:
    """The server drops the stage's connections once it has connected, and accepts no new ones."""
    database = make_url(pg_url).database
    url = make_url(pg_url).set(password="s3cret").render_as_string(hide_password=False)
    env = {**os.environ, "STOCKPREDICTOR_DATABASE_URL": url}
    stage = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stockpredictor",
            *PARAMS,
            "--set",
            "data.tickers=[IBM]",
            "ingest",
            "--as-of",
            "2010-01-04",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    with pg_admin.connect() as conn:
        while (
            stage.poll() is None
            and not conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"), {"d": database}
            ).scalar()
        ):
            time.sleep(0.01)
        conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": database}
        )
    _, stderr = stage.communicate(timeout=120)
    assert stage.returncode == StoreError.exit_code, stderr
    assert "Traceback" not in stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: store {make_url(url)!s} (STOCKPREDICTOR_DATABASE_URL): ")
    assert "s3cret" not in stderr and "check that the server runs" in line
