"""The README's exit codes, literally: one real command per code, each failure one line on stderr.

The expected numbers are the README's ("Exit codes: `0` success; `2` bad usage ... `8` the store"),
written here as numbers: renumbering a kind in `errors.py` fails this table.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from typer.testing import Result

from stockpredictor.stages.optimize_study import create_study, storage_for
from tests.support.cli import invoke
from tests.support.overrides import SAMPLE_DATASET, tickers
from tests.support.sample_dataset import BOTH_STORES, SampleStore, tiny_params

EMPTY_REGISTRY = {"MLFLOW_TRACKING_URI": "an empty registry in the test's tmp_path"}
#: (what the README says the code means, the command that meets it, its environment, the code, and a
#: piece of the one line it prints; None for success)
CASES = [
    ("success", [tickers("IBM")], ["ingest", "--as-of", "2010-01-04"], {}, 0, None),
    ("bad usage", [], ["scale"], {}, 2, "--dataset-run-id"),
    ("a bad option value", [], ["serve", "--port", "0"], {}, 2, "--port 0 is outside 1..65535"),
    ("a params.yaml key", ["data.tikers=[IBM]"], ["ingest"], {}, 2, "data.tikers"),
    ("no such dataset", [], ["scale", "--dataset-run-id", "nope"], {}, 3, "'nope'"),
    ("a price source failed", [tickers("ZZZZ")], ["ingest", "--as-of", "2010-01-04"], {}, 4, "ZZZZ"),
    ("no such model", [], ["promote", "--version", "7"], EMPTY_REGISTRY, 5, "no version 7"),
    (
        "a KFP pipeline could not be submitted",
        [],
        ["pipeline", "upload", "daily", "--host", "http://127.0.0.1:9"],
        {},
        6,
        "cannot reach Kubeflow Pipelines at http://127.0.0.1:9",
    ),
    (
        "the store is unreachable",
        [],
        ["scale", "--dataset-run-id", "x"],
        {"STOCKPREDICTOR_DATABASE_URL": "postgresql://nobody:s3cret@127.0.0.1:9/nothing"},
        8,
        "connection refused",
    ),
]


def _check(result: Result, code: int, line: str | None) -> None:
    assert result.exit_code == code, result.output
    if line is None:
        return
    assert "Traceback" not in result.stderr and "s3cret" not in result.output
    printed = result.stderr.strip().splitlines()[-1]  # after the log lines
    assert printed.startswith("error: ") and line in printed, printed


@pytest.mark.parametrize(
    ("overrides", "args", "env", "code", "line"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_exit_code_of_the_readme(
    overrides: list[str], args: list[str], env: dict[str, str], code: int, line: str | None, tmp_path: Path
) -> None:
    if env == EMPTY_REGISTRY:  # a model registry of its own, empty
        env = {"MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true"}
    _check(invoke(*args, overrides=overrides, env=env), code, line)


@pytest.mark.parametrize("sample_store", BOTH_STORES, indirect=True)
def test_exit_7_when_the_search_finishes_no_trial(sample_store: SampleStore) -> None:
    """Every trial the search may take was pruned: there is no best trial to store."""
    params = tiny_params("optimize.n_trials=1")
    study = optuna.load_study(
        study_name=create_study(sample_store.engine, params, sample_store.run_id),
        storage=storage_for(sample_store.engine),
    )
    study.tell(study.ask(), state=optuna.trial.TrialState.PRUNED)
    result = invoke(
        "optimize",
        "--dataset-run-id",
        sample_store.run_id,
        overrides=[*SAMPLE_DATASET, "optimize.n_trials=1"],
        env={"STOCKPREDICTOR_DATABASE_URL": sample_store.url},
    )
    _check(result, 7, "has no completed trial")


@pytest.mark.parametrize("sample_store", BOTH_STORES, indirect=True)
def test_exit_3_when_every_ticker_is_stale(sample_store: SampleStore, tmp_path: Path) -> None:
    """The README: a ticker without a row on the window's last session is stale; all stale: exit 3."""
    result = invoke(
        "prepare-input",
        "--dataset-run-id",
        sample_store.run_id,
        "--as-of",
        "2007-07-05",  # a session after the last stored day, 2007-06-29
        overrides=SAMPLE_DATASET,
        env={"STOCKPREDICTOR_DATABASE_URL": sample_store.url},
    )
    _check(result, 3, "no ticker has a complete window ending on the session 2007-07-05")
    assert not list(tmp_path.glob("data/inputs/*.npy"))  # nothing prepared
