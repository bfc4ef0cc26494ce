"""One replay over 20 trading days of the sample data (tiny training settings), shared by the daily tests.

The range 2012-10-23..2012-11-21 holds the Hurricane Sandy closure (Oct 29-30), weekends and the
day before Thanksgiving. The first day bootstraps training; the thresholds make the monitor ask for
a retrain exactly once, on the last day (the first day with `min_evaluations` = 19 evaluated days).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from stockpredictor.config import Params, Settings, load_params
from stockpredictor.db.engine import make_engine
from stockpredictor.stages.replay import ReplayResult, replay, workspace_settings
from tests.conftest import REPO

REPLAY_START, REPLAY_END = date(2012, 10, 23), date(2012, 11, 21)
TINY = [
    "data.tickers=[AAPL,IBM]",
    "data.start=2010-06-01",
    "sequences.sequence_length=5",
    "optimize.architectures=[lstm]",
    "optimize.n_trials=1",
    "optimize.max_epochs=1",
    "train.max_epochs=1",
    "promotion.persistence_tolerance=100",  # a one-epoch model must still pass the first gate
    "monitoring.min_evaluations=19",
    "monitoring.max_mae_ratio_to_persistence=0.01",  # breached as soon as the window is long enough
]


@dataclass(frozen=True)
class Replayed:
    """The replay's result, its params and its workspace (store and registry)."""

    result: ReplayResult
    params: Params
    settings: Settings
    engine: Engine
    output_dir: Path


@pytest.fixture(scope="session")
def tiny_params() -> Params:
    return load_params(REPO / "params.yaml", TINY)


@pytest.fixture(scope="session")
def replayed(tiny_params: Params, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    output = tmp_path_factory.mktemp("replay")
    result = replay(tiny_params, REPLAY_START, REPLAY_END, output)
    settings = workspace_settings(output)
    engine = make_engine(settings.database_url)
    yield Replayed(result, tiny_params, settings, engine, output)
    engine.dispose()
