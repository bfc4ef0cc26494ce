"""The daily commands on the shared replay's workspace: key output last, a mismatched --as-of refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from stockpredictor.models.retraining_policy import AWAITING_EVIDENCE, INSUFFICIENT_DATA
from tests.support.cli import invoke, key_output
from tests.support.overrides import REPLAY, tickers
from tests.support.replay import Replayed

pytestmark = pytest.mark.slow  # the shared replay trains models


def test_daily_commands_print_their_key_output_last(
    replayed: Replayed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPREDICTOR_DATABASE_URL", replayed.settings.database_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", replayed.settings.mlflow_tracking_uri)

    def last_line(*args: str, overrides: tuple[str, ...] = ()) -> str:
        return key_output(invoke(*args, overrides=[*REPLAY, *overrides]))

    found = json.loads(last_line("production-model"))
    assert set(found) == {"model_uri", "version", "mlflow_run_id", "dataset_run_id"}
    assert last_line("production-model", overrides=("train.model_name=NeverTrained",)) == "none"

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
    predict = ("predict", "--input-sequence-path", str(path), "--production-model-uri", found["model_uri"])
    document = Path(last_line(*predict, "--as-of", "2012-11-21"))
    assert json.loads(document.read_text())["target_date"] == "2012-11-23"
    # A rerun of the replay's last day, after the training it asked for: a rejected candidate leaves the
    # evidence spent; a promoted one has no evaluated day yet.
    promoted = replayed.trainings[-1].result.promotion.promoted
    assert last_line("monitor", "--as-of", "2012-11-21") == (
        INSUFFICIENT_DATA if promoted else AWAITING_EVIDENCE
    )

    wrong_day = invoke(*predict, "--as-of", "2012-11-20", overrides=REPLAY)
    assert wrong_day.exit_code == 2 and "not for --as-of 2012-11-20" in wrong_day.stderr


def test_replay_command_replays_two_days_and_prints_the_report_folder(tmp_path: Path) -> None:
    """The real replay, two tickers on two days: the first trains the first model, then each day
    predicts every ticker for the next session; the first day's forecasts are scored on the second."""
    output = tmp_path / "report"
    result = invoke(
        "replay",
        "--start",
        "2012-11-20",
        "--end",
        "2012-11-21",
        "--output",
        str(output),
        overrides=[*REPLAY, tickers("IBM", "MSFT")],
    )
    assert key_output(result) == str(output.resolve())
    assert "2 days in " in result.stderr and ": 4 predictions, 2 evaluated;" in result.stderr
    predictions = pd.read_csv(output / "predictions.csv")
    # the sessions after 2012-11-20 and 2012-11-21 (Thanksgiving is the 22nd)
    assert sorted(zip(predictions["target_date"], predictions["ticker"], strict=True)) == [
        ("2012-11-21", "IBM"),
        ("2012-11-21", "MSFT"),
        ("2012-11-23", "IBM"),
        ("2012-11-23", "MSFT"),
    ]
    assert {"summary.md", "IBM.png", "MSFT.png"} <= {p.name for p in output.iterdir()}
