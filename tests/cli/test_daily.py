"""The daily commands on the shared replay's workspace: key output last, a mismatched --as-of refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from stockpredictor.config import Params
from stockpredictor.models.retraining_policy import AWAITING_EVIDENCE, INSUFFICIENT_DATA
from stockpredictor.stages import replay as replay_module
from stockpredictor.stages.replay import ReplayDay, ReplayResult
from tests.support.cli import invoke, key_output
from tests.support.overrides import REPLAY
from tests.support.replay import REPLAY_END, REPLAY_START, Replayed

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


def test_replay_command_shows_progress_and_prints_the_report_folder(
    replayed: Replayed, monkeypatch: pytest.MonkeyPatch
) -> None:
    def replay_again(
        params: Params, start: date, end: date, output_dir: Path, on_day: Callable[[ReplayDay], None]
    ) -> ReplayResult:
        assert (params, start, end, output_dir) == (
            replayed.params,
            REPLAY_START,
            REPLAY_END,
            replayed.output_dir,
        )
        for day in replayed.result.days:
            on_day(day)
        return replayed.result

    monkeypatch.setattr(replay_module, "replay", replay_again)
    result = invoke(
        "replay",
        "--start",
        "2012-10-23",
        "--end",
        "2012-11-21",
        "--output",
        str(replayed.output_dir),
        overrides=REPLAY,
    )
    assert key_output(result) == str(replayed.output_dir.resolve())
    assert "20 days" in result.stderr
