"""Training-pipeline commands: ingest, process, scale, optimize, train, promote."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from stockpredictor.cli.options import (
    AsOf,
    DatasetRunId,
    RunIdAlias,
    context,
    day,
    emit,
    one_of,
    required,
    stderr,
)
from stockpredictor.errors import RegistryError, SourceError, UsageError

commands = typer.Typer()


def _dataset_run_id(dataset_run_id: str | None, run_id: str | None) -> str:
    return required(one_of(dataset_run_id, run_id, "--dataset-run-id"), "--dataset-run-id")


@commands.command()
def ingest(ctx: typer.Context, as_of: AsOf = None) -> None:
    """Fetch rows newer than the latest stored day per ticker; prints rows added in total."""
    from stockpredictor.stages.ingest import ingest as run

    c = context(ctx)
    result = run(c.engine, c.params, day(as_of))
    table = Table("ticker", "rows added", "error", title=f"ingest up to {result.as_of}")
    for ticker in c.params.data.tickers:
        table.add_row(ticker, str(result.added.get(ticker, "-")), result.errors.get(ticker, ""))
    stderr.print(table)
    if result.errors:
        raise SourceError(result.failure_message())
    emit(result.total_added)


@commands.command()
def process(ctx: typer.Context, as_of: AsOf = None) -> None:
    """Compute features from all raw data up to as_of; prints the new DATASET_RUN_ID."""
    from stockpredictor.stages.process import process as run

    c = context(ctx)
    result = run(c.engine, c.params, day(as_of))
    stderr.print(
        f"dataset {result.dataset_run_id}: {result.n_days} days ({result.first_date}..{result.last_date}) x "
        f"{len(result.tickers)} stocks x {len(result.feature_columns)} features"
    )
    emit(result.dataset_run_id)


@commands.command()
def scale(
    ctx: typer.Context, dataset_run_id: DatasetRunId = None, run_id: RunIdAlias = None, as_of: AsOf = None
) -> None:
    """Split and scale a dataset (scalers fitted on train only); prints its DATASET_RUN_ID."""
    from stockpredictor.stages.scale import scale as run

    c = context(ctx)
    dataset_run_id = _dataset_run_id(dataset_run_id, run_id)
    result = run(c.engine, c.params, dataset_run_id)
    stderr.print(
        f"dataset {dataset_run_id}: {result.split.train}/{result.split.validation}/{result.split.test} "
        f"train/validation/test windows of {result.sequence_length} days, "
        f"{result.stored_bytes:,} bytes stored"
    )
    emit(dataset_run_id)


@commands.command()
def optimize(ctx: typer.Context, dataset_run_id: DatasetRunId = None, run_id: RunIdAlias = None) -> None:
    """Run or resume the Optuna search on a dataset; prints the best hyperparameters as JSON."""
    from stockpredictor.stages.optimize import optimize as run

    c = context(ctx)
    dataset_run_id = _dataset_run_id(dataset_run_id, run_id)
    result = run(c.engine, c.params, dataset_run_id)
    stderr.print(
        f"study {result.study_name}: best validation loss {result.best_value:.6g} "
        f"({result.n_complete} complete, {result.n_pruned} pruned trials)"
    )
    emit(json.dumps(result.best_params, sort_keys=True))


@commands.command()
def train(ctx: typer.Context, dataset_run_id: DatasetRunId = None, run_id: RunIdAlias = None) -> None:
    """Train on a dataset, evaluate on its test windows, register the model; prints the MLflow run id."""
    from stockpredictor.stages.train import train as run

    c = context(ctx)
    dataset_run_id = _dataset_run_id(dataset_run_id, run_id)
    result = run(c.engine, c.params, c.settings, dataset_run_id)
    stderr.print(result.report_markdown, markup=False, highlight=False)
    stderr.print(f"registered {c.params.train.model_name} version {result.model_version}")
    emit(result.mlflow_run_id)


@commands.command()
def promote(
    ctx: typer.Context,
    mlflow_run_id: Annotated[
        str | None,
        typer.Option("--mlflow-run-id", help="MLflow run id printed by `train` (default: newest version)."),
    ] = None,
    run_id: RunIdAlias = None,
    version: Annotated[
        int | None, typer.Option("--version", help="Registered model version to decide on.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Set the production alias without the gate (rollback).")
    ] = False,
    as_of: AsOf = None,
) -> None:
    """Gate a model version against production and persistence; prints `promoted`, `rejected` or `forced`.

    A rejection is a normal outcome (exit code 0); the reason and the numbers go to stderr, the
    `model_promotions` table and the version's MLflow tags. A refused --force (a version whose
    training did not finish) is recorded the same way and exits 5.
    """
    from stockpredictor.stages.promote import FORCED
    from stockpredictor.stages.promote import promote as run

    c = context(ctx)
    mlflow_run_id = one_of(mlflow_run_id, run_id, "--mlflow-run-id")
    if mlflow_run_id and version is not None:
        raise UsageError("give either an MLflow run id or a version, not both")
    result = run(
        c.engine,
        c.params,
        c.settings,
        mlflow_run_id=mlflow_run_id,
        version=version,
        force=force,
        as_of=day(as_of),
    )
    if result.metrics:
        table = Table(
            "metric", "value", title=f"version {result.candidate_version} vs {result.production_version}"
        )
        for name, value in result.metrics.items():
            table.add_row(name, f"{value:.4f}")
        stderr.print(table)
    if force and result.decision != FORCED:
        raise RegistryError(f"--force refused: {result.reason}")
    stderr.print(f"{result.decision}: {result.reason}", highlight=False)
    emit(result.decision)
