"""Training-pipeline commands after `scale`: optimize, train, promote (registered on `cli.app`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from stockpredictor.cli import AsOf, Context, RunId, app, day, emit, stderr


@app.command()
def optimize(ctx: typer.Context, run_id: RunId) -> None:
    """Run or resume the Optuna search on dataset RUN_ID; prints the best hyperparameters as JSON."""
    from stockpredictor.stages.common import store_engine
    from stockpredictor.stages.optimize import optimize as run

    c: Context = ctx.obj
    result = run(store_engine(c.settings), c.params, run_id)
    stderr.print(
        f"study {result.study_name}: best validation loss {result.best_value:.6g} "
        f"({result.n_complete} complete, {result.n_pruned} pruned trials)"
    )
    emit(json.dumps(result.best_params, sort_keys=True))


@app.command()
def train(ctx: typer.Context, run_id: RunId) -> None:
    """Train on dataset RUN_ID, evaluate on its test windows, register the model; prints the MLflow run id."""
    from stockpredictor.stages.common import store_engine
    from stockpredictor.stages.train import train as run

    c: Context = ctx.obj
    result = run(store_engine(c.settings), c.params, c.settings, run_id)
    stderr.print(result.report_markdown, markup=False, highlight=False)
    stderr.print(f"registered {c.params.train.model_name} version {result.model_version}")
    emit(result.mlflow_run_id)


@app.command()
def promote(
    ctx: typer.Context,
    mlflow_run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="MLflow run id printed by `train` (default: newest version)."),
    ] = None,
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
    `model_promotions` table and the version's MLflow tags.
    """
    from stockpredictor.stages.common import store_engine
    from stockpredictor.stages.promote import promote as run

    c: Context = ctx.obj
    result = run(
        store_engine(c.settings),
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
    stderr.print(f"{result.decision}: {result.reason}", highlight=False)
    emit(result.decision)
