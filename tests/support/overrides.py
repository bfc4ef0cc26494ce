"""Named override sets (`section.key=value`, as `--set` and `load_params` take them), written once.

Test-sized settings: a test picks a set and adds its own few overrides on top.
"""

from __future__ import annotations

from stockpredictor.config import Params, load_params
from tests.conftest import REPO

PARAMS_FILE = REPO / "params.yaml"
SAMPLE_TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")


def tickers(*symbols: str) -> str:
    """The override that selects `symbols`."""
    return f"data.tickers=[{','.join(symbols)}]"


def repo_params(*overrides: str) -> Params:
    """The repository's params.yaml with `overrides` applied and validated."""
    return load_params(PARAMS_FILE, list(overrides))


LSTM_ONLY = "optimize.architectures=[lstm]"
# a training draws only its summary figure (about 0.2 CPU s less per training; tests/stages/test_train.py
# checks the per-ticker figures)
NO_TICKER_PLOTS = "reporting.max_ticker_plots=0"
# however little the first model trained: no evidence asked, any loss ratio up to 101x persistence's
ANY_FIRST_MODEL_PASSES = (
    "promotion.persistence_tolerance=100",
    "promotion.alpha=1",
    "promotion.coverage_alpha=0",  # and however far off its center puts its intervals
)

# ingest / process / scale: two tickers from 2005.
TWO_TICKERS = [tickers("AAPL", "IBM"), "data.start=2005-01-01"]

# The scaled sample dataset of the training-stage tests (tests/support/sample_dataset.py).
SAMPLE_DATASET = [
    "sequences.sequence_length=10",
    LSTM_ONLY,
    NO_TICKER_PLOTS,
    "optimize.max_epochs=4",
    "optimize.n_trials=6",
    "train.max_epochs=8",
    "train.patience=3",
    "promotion.window_days=20",
]

# The shared replay (tests/support/replay.py): trainings of one trial and one epoch; the monitor asks
# for a retrain as soon as 19 days are evaluated (its MAPE guard is always breached but waits for 19
# days too, the cooldown after the bootstrap training is 19 sessions).
# Trainings of one trial and one epoch on short windows of two and a half years.
ONE_EPOCH = [
    "data.start=2010-06-01",
    "sequences.sequence_length=5",
    LSTM_ONLY,
    NO_TICKER_PLOTS,
    "optimize.n_trials=1",
    "optimize.max_epochs=1",
    "train.max_epochs=1",
]
REPLAY = [
    tickers(*SAMPLE_TICKERS),
    *ONE_EPOCH,
    *ANY_FIRST_MODEL_PASSES,
    "monitoring.min_evaluations=19",
    "monitoring.alpha=1e-300",  # the one-epoch model is worse than persistence: no demotion here
    "monitoring.max_mape=1e-9",
    "monitoring.guard_min_evaluations=19",
    "monitoring.cooldown_sessions=19",
]

# The small demo (tests/api/test_demo.py): no candidate beats persistence this clearly, so the
# persistence baseline serves every forecast.
SMALL_DEMO = [*ONE_EPOCH, "promotion.alpha=1e-300"]

# kfp.local runs of the daily pipeline (tests/pipelines/test_local_runs.py): small enough for a test;
# a first model is promoted whatever two epochs achieve. Two search workers share the trial budget.
LOCAL_RUN_TICKERS = ("AAPL", "IBM")
LOCAL_RUN_TRIALS = 4
LOCAL_RUN = [
    tickers(*LOCAL_RUN_TICKERS),
    "data.start=2009-01-01",
    "sequences.sequence_length=10",
    f"optimize.n_trials={LOCAL_RUN_TRIALS}",
    "optimize.workers=2",
    "optimize.max_epochs=2",
    "train.max_epochs=2",
    *ANY_FIRST_MODEL_PASSES,
]
FORCE_RETRAIN = ["monitoring.min_evaluations=1", "monitoring.max_mape=1e-9", "monitoring.cooldown_sessions=0"]
