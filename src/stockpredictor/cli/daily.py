"""Daily-pipeline commands: session, production-model, prepare-input, predict, monitor; replay, operate."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stockpredictor.cli.options import AsOf, DatasetRunId, context, day, emit, one_of, required, stderr
from stockpredictor.errors import ModelNotFoundError, UsageError

if TYPE_CHECKING:
    from stockpredictor.stages.predict import PredictResult

commands = typer.Typer()


@commands.command("session")
def session(ctx: typer.Context, as_of: AsOf = None) -> None:
    """Whether the daily run has a new session; prints `new session` or `no new session`.

    Without --as-of the run stands on the latest completed session: when the daily pipeline already
    predicted from it (a weekend, a holiday, a second run the same evening) there is nothing to do.
    """
    from stockpredictor.stages.session import session as run

    c = context(ctx)
    result = run(c.engine, c.params, day(as_of))
    stderr.print(f"{result.status}: {result.reason}", highlight=False)
    emit(result.status)


@commands.command("production-model")
def production_model(ctx: typer.Context, as_of: AsOf = None) -> None:
    """The `production` alias; prints JSON (model_uri, version, mlflow_run_id, dataset_run_id) or `none`.

    `none` (nothing promoted yet) exits 0: the daily pipeline bootstraps training on it. The registry
    holds only the current alias, so --as-of is accepted for uniformity and does not change the answer.
    """
    from stockpredictor.stages.production_model import production_model as run

    c = context(ctx)
    found = run(c.params, c.settings)
    if found is None:
        stderr.print(
            f"no production model: no version of {c.params.train.model_name} is aliased `production`"
        )
        emit("none")
        return
    stderr.print(
        f"production model {found.model_uri} "
        f"(MLflow run {found.mlflow_run_id}, dataset {found.dataset_run_id})"
    )
    emit(
        json.dumps(
            {
                "model_uri": found.model_uri,
                "version": found.version,
                "mlflow_run_id": found.mlflow_run_id,
                "dataset_run_id": found.dataset_run_id,
            }
        )
    )


@commands.command("prepare-input")
def prepare_input(
    ctx: typer.Context,
    dataset_run_id: DatasetRunId = None,
    seed_name: Annotated[str | None, typer.Option("--production-model-training-run-id", hidden=True)] = None,
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", help="Folder of the window (default: DATA_DIR/inputs).")
    ] = None,
    as_of: AsOf = None,
) -> None:
    """Save the model's scaled input window ending on the last trading day <= as_of; prints its path.

    A ticker without a row for that day (or with a gap in its window) is reported stale and skipped.

    --dataset-run-id is the dataset the model was trained on (printed by `production-model`).
    """
    from stockpredictor.stages.prepare_input import prepare_input as run

    c = context(ctx)
    dataset_run_id = required(
        one_of(dataset_run_id, seed_name, "--dataset-run-id", "--production-model-training-run-id"),
        "--dataset-run-id",
    )
    result = run(c.engine, c.params, dataset_run_id, day(as_of), output_dir)
    stderr.print(
        f"window of dataset {dataset_run_id} ending {result.last_day} for {', '.join(result.tickers)} "
        f"(sidecar {result.sidecar_path})"
    )
    _print_stale(result.stale)
    emit(result.path)


def _print_stale(stale: dict[str, str]) -> None:
    for ticker, why in stale.items():
        stderr.print(f"stale, not predicted: {ticker} {why}", highlight=False)


@commands.command()
def predict(
    ctx: typer.Context,
    input_path: Annotated[
        Path, typer.Option("--input-sequence-path", help="Window saved by `prepare-input`.")
    ],
    model_uri: Annotated[
        str,
        typer.Option("--production-model-uri", help="models:/NAME/VERSION printed by `production-model`."),
    ],
    as_of: AsOf = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Replace other forecasts stored for the same day (they are kept as history)."
        ),
    ] = False,
) -> None:
    """Predict the next trading day's closes; stores them and prints the path of the day's JSON file.

    The as-of day is the window's; a different --as-of is refused. A rerun of the same day with other
    forecasts is refused unless --replace.
    """
    from stockpredictor.stages.files import load_input
    from stockpredictor.stages.predict import predict as run

    c = context(ctx)
    prepared_for = load_input(input_path)[1]["as_of"]  # the window is checked before anything is opened
    if as_of is not None and prepared_for != as_of.date().isoformat():
        raise UsageError(f"{input_path} was prepared for {prepared_for}, not for --as-of {as_of.date()}")
    result = run(c.engine, c.params, c.settings, input_path, model_uri, replace=replace)
    _print_predictions(result)
    emit(result.json_path)


def _print_predictions(result: PredictResult) -> None:
    """The forecasts on stderr (a forecast of the last close itself calls no move), and the stale tickers."""
    table = Table(
        "ticker",
        "last close",
        "predicted close",
        "change",
        title=f"{result.last_day} -> {result.target_date} (version {result.model_version}"
        + (f", the {result.baseline} baseline)" if result.baseline else ")"),
    )
    for p in result.predictions:
        table.add_row(p.ticker, f"{p.last_close:.2f}", f"{p.predicted_close:.2f}", p.change)
    stderr.print(table)
    _print_stale(result.stale)


@commands.command()
def monitor(ctx: typer.Context, as_of: AsOf = None) -> None:
    """Evaluate matured predictions, judge the production model; prints the decision (retrain, ok, ...).

    retrain, ok, insufficient_data, or a retraining held back: suppressed_cooldown, suppressed_budget,
    awaiting_evidence. Every decision is stored in table monitor_decisions with its reason.
    """
    from stockpredictor.stages.monitor import monitor as run

    c = context(ctx)
    result = run(c.engine, c.params, c.settings, day(as_of))
    if result.metrics:
        table = Table("metric", "value", title=f"rolling window of MLflow run {result.mlflow_run_id}")
        for name, value in result.metrics.items():
            table.add_row(name, f"{value:.4f}")
        stderr.print(table)
    stderr.print(
        f"{result.n_new_evaluations} new evaluation(s); {result.decision}: {result.reason}", highlight=False
    )
    emit(result.decision)


@commands.command()
def replay(
    ctx: typer.Context,
    start: Annotated[datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="First day replayed.")],
    end: Annotated[datetime, typer.Option("--end", formats=["%Y-%m-%d"], help="Last day replayed.")],
    output: Annotated[
        Path | None, typer.Option("--output", help="Report folder (default: DATA_DIR/replay/START_END).")
    ] = None,
) -> None:
    """Run the daily pipeline on every trading day START..END (retraining when the monitor says so).

    Works in a fresh store and MLflow registry under OUTPUT/workspace; writes predictions.csv,
    summary.md and a chart per ticker to OUTPUT and prints OUTPUT's absolute path.
    """
    from stockpredictor.calendar import trading_days
    from stockpredictor.stages.replay import ReplayDay
    from stockpredictor.stages.replay import replay as run

    c = context(ctx)
    first, last = start.date(), end.date()
    output = (output or c.settings.data_dir / "replay" / f"{first}_{last}").resolve()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr) as progress:
        task = progress.add_task("replay", total=len(trading_days(first, last)))

        def advance(replayed: ReplayDay) -> None:
            status = replayed.monitor.decision if replayed.monitor else "no model"
            trained = " + training" if replayed.trainings else ""
            progress.update(task, advance=1, description=f"{replayed.day} {status}{trained}")

        _quiet_stage_output()
        result = run(c.params, first, last, output, on_day=advance)
    report = result.report
    stderr.print(
        f"{len(result.days)} days in {result.seconds:.1f} s: {report.n_predictions} predictions, "
        f"{report.n_evaluated} evaluated; report in {report.summary}"
    )
    emit(output)


@commands.command()
def operate(
    ctx: typer.Context,
    start: Annotated[datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="First session.")],
    end: Annotated[datetime, typer.Option("--end", formats=["%Y-%m-%d"], help="Last session.")],
) -> None:
    """Run the daily operations on the configured store for every session START..END, in one process.

    Each session: ingest, production model, prepare input, predict, monitor, and the training pipeline
    when the monitor says `retrain`: what the daily pipeline does, with data revealed day by day. A
    store holding a dataset built after START is refused. Prints one line per session, the last
    session's forecasts, then the path of their JSON file.
    """
    from stockpredictor.calendar import trading_days
    from stockpredictor.stages.common import check_as_of
    from stockpredictor.stages.replay import ReplayDay
    from stockpredictor.stages.replay import operate as run

    c = context(ctx)
    days = trading_days(start.date(), end.date())
    if not days:
        raise UsageError(f"no trading day between {start.date()} and {end.date()}")
    for session in (days[0], days[-1]):  # none before data.start, none whose close is still to come
        check_as_of(session, c.params)

    def report(done: ReplayDay) -> None:
        decision = done.monitor.decision if done.monitor else "no model"
        trained = "".join(
            f"; trained version {t.result.model_version}: {t.result.promotion.decision}"
            for t in done.trainings
        )
        stderr.print(f"  {done.day}  {decision:<22} {done.seconds:5.1f} s{trained}", highlight=False)

    _quiet_stage_output()
    operated = run(c.engine, c.params, c.settings, days, on_day=report)
    served = [d.prediction for d in operated if d.prediction is not None]
    decisions = Counter(d.monitor.decision for d in operated if d.monitor)
    stderr.print(
        f"{len(operated)} sessions {days[0]}..{days[-1]}: {len(served)} served, "
        f"{sum(d.monitor.n_new_evaluations for d in operated if d.monitor)} forecasts evaluated, "
        f"{sum(len(d.trainings) for d in operated)} training(s); monitor: "
        + ", ".join(f"{name} {count}" for name, count in decisions.most_common()),
        highlight=False,
        soft_wrap=True,
    )
    if not served:
        raise ModelNotFoundError("no forecast served: no model has passed the promotion gate yet")
    _print_predictions(served[-1])
    emit(served[-1].json_path)


def _quiet_stage_output() -> None:
    """Keep the progress bar readable: stage logs at warning level unless --verbose, no download bars."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if logging.getLogger().level > logging.DEBUG:
        for name in ("stockpredictor", "alembic", "optuna", "mlflow"):
            logging.getLogger(name).setLevel(logging.WARNING)
