"""pytest plugin: one replay of the daily operations, shared by the stage, CLI and API tests (session).

20 trading days of the sample data, 2012-10-23..2012-11-21, four tickers, tiny training settings
(`overrides.REPLAY`). The range holds the Hurricane Sandy closure (Oct 29-30), weekends and the day
before Thanksgiving. The first day bootstraps training; the thresholds make the monitor ask for a
retrain exactly once, on the last day (the first day with `min_evaluations` = 19 evaluated days), so
every prediction of the range is the bootstrap model's.

Tests treat the replay as read-only: they may only redo what it did (a rerun replaces rows and files,
adds none); anything new they write goes to their own tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from stockpredictor.config import Params, Settings
from stockpredictor.db.engine import make_engine
from stockpredictor.stages.replay import ReplayResult, TrainingEvent, replay, workspace_settings
from tests.support.overrides import REPLAY, SAMPLE_TICKERS, repo_params

REPLAY_START, REPLAY_END = date(2012, 10, 23), date(2012, 11, 21)
TICKERS = SAMPLE_TICKERS


@dataclass(frozen=True)
class Replayed:
    """The replay's result, its params and its workspace (store and registry)."""

    result: ReplayResult
    params: Params
    settings: Settings
    engine: Engine
    output_dir: Path

    @property
    def trainings(self) -> list[TrainingEvent]:
        """Every run of the training pipeline, in order."""
        return [event for day in self.result.days for event in day.trainings]

    @property
    def bootstrap(self) -> TrainingEvent:
        """The training of the first day, on an empty registry."""
        return self.trainings[0]


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    params = repo_params(*REPLAY)
    output = tmp_path_factory.mktemp("replay")
    result = replay(params, REPLAY_START, REPLAY_END, output)
    settings = workspace_settings(output)
    engine = make_engine(settings.database_url)
    yield Replayed(result, params, settings, engine, output)
    engine.dispose()
