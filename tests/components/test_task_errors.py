"""Errors in a component body: a `StockPredictorError` ends the task with one line on stderr and the exit
code of its kind; anything else propagates (the KFP executor prints its traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from components.configure import configure
from components.ingest import ingest
from components.scale import scale
from kfp import dsl

from stockpredictor.orchestration.runtime import reported_errors
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def _repo_params(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPREDICTOR_PARAMS", str(REPO / "params.yaml"))


def metrics(tmp_path: Path, name: str) -> dsl.Metrics:
    return dsl.Metrics(name=name, uri=str(tmp_path / name))


def test_bad_parameters_end_the_task_with_the_usage_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        configure.python_func(params_overrides="not json", tickers="", n_trials=0)
    assert ended.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: params_overrides is not JSON: Expecting value: line 1 column 1 (char 0)"
    ]


def test_a_missing_dataset_ends_the_task_with_the_data_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        scale.python_func(
            params_overrides="[]",
            dataset_run_id="nope",
            split=metrics(tmp_path, "split"),
            summary=dsl.Markdown(name="summary", uri=str(tmp_path / "summary")),
        )
    assert ended.value.code == 3
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: no processed dataset with dataset run id 'nope' (run `process` first)"
    )


def test_a_failed_ticker_ends_ingest_with_the_source_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        ingest.python_func(
            params_overrides='["data.tickers=[ZZZZ]"]',
            as_of="2010-01-04",
            rows_added=metrics(tmp_path, "rows"),
            summary=dsl.Markdown(name="summary", uri=str(tmp_path / "summary")),
        )
    assert ended.value.code == 4
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ingest stored nothing: every ticker failed; ZZZZ: not in the sample data")
    assert "| ZZZZ | - | - | 0 | ZZZZ: not in the sample data" in (tmp_path / "summary").read_text()


def test_other_errors_propagate() -> None:
    with pytest.raises(KeyError), reported_errors():
        raise KeyError("a bug")
