"""Issue 4 benchmark: daily operations per day, model load + predict, replay throughput (sample data).

Replays `--days` trading days of the sample data (4 tickers, default features and sequence length)
twice in fresh workspaces: once with monitoring thresholds that never ask for a retrain (only the
bootstrap training of the first day), once with thresholds that ask for one whenever the window is
long enough. Training uses tiny settings (1 trial, 1 epoch): the figures are about the daily path.
Then times each daily stage once on the first workspace. Targets (issue 4): <= 10 s per day on 2
cores, of which model load + predict <= 2 s.

Run: `python -m bench daily` (or `python -m bench.daily --days 20`).
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import torch

from bench.common import machine, timed
from stockpredictor import registry_models
from stockpredictor.calendar import trading_days
from stockpredictor.config import Params, load_params
from stockpredictor.db.engine import make_engine
from stockpredictor.stages.files import load_input
from stockpredictor.stages.monitor import monitor
from stockpredictor.stages.predict import predict
from stockpredictor.stages.prepare_input import prepare_input
from stockpredictor.stages.production_model import production_model
from stockpredictor.stages.replay import ReplayResult, replay, workspace_settings

START = date(2012, 6, 1)
TINY_TRAINING = [
    "optimize.n_trials=1",
    "optimize.max_epochs=1",
    "optimize.architectures=[lstm]",
    "train.max_epochs=1",
    "promotion.persistence_tolerance=1000",  # a one-epoch model must pass the first gate
    "promotion.alpha=1",
    "promotion.coverage_alpha=0",  # with its intervals however far off
]
NEVER_RETRAIN = ["monitoring.cooldown_sessions=2520"]  # no retraining after the first model's
RETRAIN_WHEN_POSSIBLE = [
    "monitoring.min_evaluations=5",
    "monitoring.guard_min_evaluations=5",
    "monitoring.max_mape=1e-9",
    "monitoring.cooldown_sessions=0",
    "monitoring.max_trainings=1000",
]


def _replay(params: Params, days: int, output: Path, label: str) -> ReplayResult:
    end = trading_days(START, date(2013, 3, 1))[days - 1]
    result = replay(params, START, end, output)
    trainings = sum(len(d.trainings) for d in result.days)
    plain = [d.seconds for d in result.days if not d.trainings]
    print(
        f"  replay {label:<17} {60 * len(result.days) / result.seconds:8.1f} days/minute "
        f"({len(result.days)} days in {result.seconds:.1f} s, {trainings} training runs; "
        f"{np.mean(plain) if plain else float('nan'):.2f} s per day without training, "
        f"{60 / np.mean(plain) if plain else float('nan'):.0f} days/minute)   ({machine()})",
        flush=True,
    )
    return result


def _daily_stages(params: Params, output: Path, day: date) -> None:
    """Each stage of `day`'s daily operations (a rerun of the replay's last day) and the model alone."""
    settings = workspace_settings(output)
    engine = make_engine(settings.database_url)
    figures: dict[str, float] = {}
    with timed("daily operations total", figures):
        with timed("production-model", figures):
            found = production_model(params, settings)
        assert found is not None
        with timed("prepare-input", figures):
            prepared = prepare_input(engine, params, found.dataset_run_id, day, output / "bench-inputs")
        with timed("predict (load+predict+store)", figures):
            predict(engine, params, settings, prepared.path, found.model_uri)
        with timed("monitor", figures):
            monitor(engine, params, settings, day)
    window, _ = load_input(prepared.path)
    with timed("model load", figures), engine.connect() as conn:
        model, _ = registry_models.load_model(conn, found.model_uri)
    with timed("model forward", figures), torch.inference_mode():
        model(torch.from_numpy(window))
    engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=20, help="trading days replayed (each run)")
    args = parser.parse_args(argv)
    base = load_params(overrides=TINY_TRAINING)
    print(
        f"daily operations on the sample data ({', '.join(base.data.tickers)}), {args.days} days from {START}"
    )
    with tempfile.TemporaryDirectory(prefix="sp-bench-daily-") as tmp:
        quiet = load_params(overrides=TINY_TRAINING + NEVER_RETRAIN)
        replayed = _replay(quiet, args.days, Path(tmp) / "quiet", "without retraining")
        _daily_stages(quiet, Path(tmp) / "quiet", replayed.days[-1].day)
        _replay(
            load_params(overrides=TINY_TRAINING + RETRAIN_WHEN_POSSIBLE),
            args.days,
            Path(tmp) / "busy",
            "with retraining",
        )


if __name__ == "__main__":
    main()
