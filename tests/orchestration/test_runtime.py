"""The helpers component bodies share: overrides, as_of, reference artifacts, the predictions table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from stockpredictor.errors import ConfigError
from stockpredictor.orchestration.catalogue import pipeline_arguments
from stockpredictor.orchestration.runtime import (
    merge_overrides,
    parse_as_of,
    parse_overrides,
    predictions_markdown,
    task_context,
    write_reference,
)
from stockpredictor.stages.predict import Prediction, PredictResult
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def _repo_params(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPREDICTOR_PARAMS", str(REPO / "params.yaml"))


def test_pipeline_parameters_become_one_override_list() -> None:
    merged = merge_overrides(json.dumps(["train.max_epochs=3"]), tickers="AAPL, IBM", n_trials=4)
    assert json.loads(merged) == ["train.max_epochs=3", "data.tickers=[AAPL, IBM]", "optimize.n_trials=4"]
    with task_context(merged) as ctx:
        params = ctx.params
    assert (params.data.tickers, params.optimize.n_trials, params.train.max_epochs) == (("AAPL", "IBM"), 4, 3)
    assert json.loads(merge_overrides("[]")) == []  # empty tickers and 0 trials keep params.yaml's


def test_cli_values_round_trip_through_the_pipeline_parameters() -> None:
    arguments = pipeline_arguments(date(2013, 1, 2), "MSFT", 0, ["optimize.max_epochs=2"])
    assert arguments == {
        "as_of": "2013-01-02",
        "tickers": "MSFT",
        "n_trials": 0,
        "params_overrides": '["optimize.max_epochs=2"]',
    }
    assert parse_as_of(arguments["as_of"]) == date(2013, 1, 2)
    assert parse_as_of(pipeline_arguments()["as_of"]) is None


@pytest.mark.parametrize(
    ("params_overrides", "tickers", "message"),
    [
        ("not json", "", "params_overrides is not JSON"),
        ('{"a": 1}', "", "must be a JSON list"),
        ('["data.nope=1"]', "", "key 'data.nope': unknown key"),
        ("[]", "AAPL,AAPL", "tickers must be unique"),
    ],
)
def test_bad_parameters_fail_before_any_work(params_overrides: str, tickers: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        merge_overrides(params_overrides, tickers=tickers)


def test_empty_overrides_mean_none() -> None:
    assert parse_overrides("") == parse_overrides("[]") == []


@dataclass
class FakeArtifact:
    path: str
    metadata: dict[str, Any] = field(default_factory=dict)


def test_reference_artifacts_carry_their_metadata_in_both_places(tmp_path: Path) -> None:
    artifact = FakeArtifact(str(tmp_path / "task" / "model"))
    write_reference(artifact, model_uri="models:/M/3", dataset_run_id="20130102T000000_abc")
    assert artifact.metadata == {"model_uri": "models:/M/3", "dataset_run_id": "20130102T000000_abc"}
    assert json.loads(Path(artifact.path).read_text()) == artifact.metadata


def test_the_predictions_table_shows_no_change_for_a_forecast_of_the_last_close() -> None:
    result = PredictResult(
        date(2013, 3, 1),
        date(2013, 3, 1),
        date(2013, 3, 4),
        "models:/M/2",
        "run",
        2,
        [Prediction("AAPL", 56.14, 56.14), Prediction("IBM", 200.0, 203.0), Prediction("MSFT", 25.0, 24.5)],
        Path("predictions.json"),
        {},
    )
    rows = predictions_markdown(result).splitlines()[5:8]
    assert rows == [
        "| AAPL | 56.14 | 56.14 | no call |",
        "| IBM | 200.00 | 203.00 | +1.50% |",
        "| MSFT | 25.00 | 24.50 | -2.00% |",
    ]
