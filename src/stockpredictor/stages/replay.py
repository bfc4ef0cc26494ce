"""Replay: the daily pipeline run for every trading day of a past range, with data revealed day by day.

Each day: ingest up to that day, look up the production model (none: the monitor asks for a first
model and, unless the retraining policy suppresses it, the training pipeline runs, as the daily
pipeline's bootstrap branch does), prepare its input, predict, monitor; on `retrain` the training
pipeline runs on the data up to that day. Nothing after a day is visible on that day; the monitor
decides once per day.

A replay works in its own store and MLflow registry under `OUTPUT/workspace`, so it never touches the
configured ones and never starts from a model trained on the future. The workspace is recreated on
every run, but only once the replay has started (its days and every ticker's first day checked
against the source), and only if an earlier replay made it (it holds `WORKSPACE_MARKER`): any other
folder of that name is refused, never deleted.

`operate` runs the same days on a store and registry of the caller's (`stockpredictor operate`, `make
demo`): the daily operations continued in one process, never from a day before its newest dataset.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from stockpredictor.calendar import trading_days
from stockpredictor.config import Params, Settings
from stockpredictor.db.datasets import newest_dataset_as_of
from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.errors import OverwriteRefusedError, SourceError, UsageError
from stockpredictor.sources import PriceSource, get_source
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.monitor import RETRAIN, MonitorResult, monitor
from stockpredictor.stages.predict import predict
from stockpredictor.stages.prepare_input import prepare_input
from stockpredictor.stages.production_model import production_model
from stockpredictor.stages.replay_report import ReplayDay, ReplayReport, TrainingEvent, write_report
from stockpredictor.stages.training_cycle import run_training

log = logging.getLogger(__name__)

#: The file that marks `OUTPUT/workspace` as made by a replay, so the next replay may delete it.
WORKSPACE_MARKER = ".stockpredictor-replay-workspace"


@dataclass(frozen=True)
class ReplayResult:
    """Every replayed day and the report written from them."""

    days: list[ReplayDay]
    report: ReplayReport
    seconds: float


def workspace_settings(output_dir: Path) -> Settings:
    """The replay's own store, MLflow registry and predictions folder under `output_dir/workspace`."""
    workspace = (output_dir / "workspace").resolve()
    return Settings(
        data_dir=workspace,
        database_url=f"sqlite:///{workspace / 'store.db'}",
        mlflow_tracking_uri=f"sqlite:///{workspace / 'mlflow.db'}",
    )


def replay(
    params: Params,
    start: date,
    end: date,
    output_dir: Path,
    source: PriceSource | None = None,
    on_day: Callable[[ReplayDay], None] | None = None,
) -> ReplayResult:
    """Replay the trading days start..end in a fresh workspace and write the report to `output_dir`.

    `on_day` is called after each day (progress display).
    """
    days = trading_days(start, end)
    if not days:
        raise UsageError(f"no trading day between {start} and {end}")
    link = output_dir / "workspace"
    if link.is_symlink():
        raise OverwriteRefusedError(
            f"{link} is a symbolic link (to {link.readlink()}); a replay deletes and recreates its "
            "workspace and follows no link: remove the link or choose another --output"
        )
    source = source or get_source(params.data.source)
    for ticker in params.data.tickers:
        source.fetch(ticker, None, days[0])  # an unknown ticker or an unreachable source fails here
    settings = workspace_settings(output_dir)
    _recreate_workspace(settings.data_dir)
    engine = make_engine(settings.database_url)
    migrate(engine)
    started = time.perf_counter()
    try:
        replayed = operate(engine, params, settings, days, source, on_day)
        report = write_report(engine, params, replayed, output_dir)
    finally:
        engine.dispose()
    return ReplayResult(replayed, report, time.perf_counter() - started)


def operate(
    engine: Engine,
    params: Params,
    settings: Settings,
    days: list[date],
    source: PriceSource | None = None,
    on_day: Callable[[ReplayDay], None] | None = None,
) -> list[ReplayDay]:
    """The daily pipeline's stages for each of `days` in order, on the store and registry given.

    Each day sees only the data up to it; `on_day` is called after each day. A store holding a dataset
    built on data after `days[0]` is refused: its models would serve days they were trained on.
    """
    with engine.connect() as conn:
        newest = newest_dataset_as_of(conn)
    if newest is not None and newest > days[0]:
        raise UsageError(
            f"the store holds a dataset built on data up to {newest}, after {days[0]}: "
            "its models would forecast days they were trained on (start after it, or on a fresh store)"
        )
    source = source or get_source(params.data.source)
    replayed: list[ReplayDay] = []
    for day in days:
        replayed.append(_replay_day(engine, params, settings, source, day))
        if on_day is not None:
            on_day(replayed[-1])
    return replayed


def _recreate_workspace(workspace: Path) -> None:
    """An empty `workspace` holding the marker; an existing one is deleted only if a replay made it."""
    if workspace.exists():
        if not (workspace / WORKSPACE_MARKER).is_file():
            raise UsageError(
                f"{workspace} exists but was not made by a replay: choose another --output or move it away"
            )
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True)
    (workspace / WORKSPACE_MARKER).write_text(
        "made by `stockpredictor replay`; the next replay here deletes it\n"
    )


def _replay_day(
    engine: Engine, params: Params, settings: Settings, source: PriceSource, day: date
) -> ReplayDay:
    started = time.perf_counter()
    ingested = ingest(engine, params, day, source)
    if ingested.errors:
        raise SourceError(f"replay {day}: ingest failed: {ingested.errors}")
    trainings: list[TrainingEvent] = []
    production = production_model(params, settings)
    monitored = None
    if production is None:  # the monitor asks for a first model, within the retraining policy
        monitored = _monitor(engine, params, settings, day, trainings)
        production = production_model(params, settings)
    if production is None:
        log.warning("replay %s: no model passed the promotion gate yet; no prediction", day)
        return ReplayDay(day, None, monitored, trainings, time.perf_counter() - started)
    prepared = prepare_input(engine, params, production.dataset_run_id, day, settings.data_dir / "inputs")
    predicted = predict(engine, params, settings, prepared.path, production.model_uri)
    if monitored is None:
        monitored = _monitor(engine, params, settings, day, trainings)
    return ReplayDay(day, predicted, monitored, trainings, time.perf_counter() - started)


def _monitor(
    engine: Engine, params: Params, settings: Settings, day: date, trainings: list[TrainingEvent]
) -> MonitorResult:
    """The day's monitor decision; on `retrain` the training pipeline runs (appended to `trainings`)."""
    monitored = monitor(engine, params, settings, day)
    if monitored.decision == RETRAIN:
        trainings.append(TrainingEvent(day, monitored.reason, run_training(engine, params, settings, day)))
    return monitored
