"""`stockpredictor` command line: one command per stage; the key output is the last stdout line."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockpredictor.config import ConfigError, Params, Settings, load_params

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help=__doc__)
stderr = Console(stderr=True)

AsOf = Annotated[
    datetime | None,
    typer.Option("--as-of", formats=["%Y-%m-%d"], help="Day the run stands on (no data after it is used)."),
]
RunId = Annotated[str, typer.Option("--run-id", help="DATASET_RUN_ID printed by `process`.")]


@dataclass
class Context:
    """Params and settings shared by every command."""

    params: Params
    settings: Settings


@app.callback()
def main(
    ctx: typer.Context,
    params: Annotated[Path | None, typer.Option("--params", help="params.yaml to use.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a parameter: section.key=value (repeatable).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Next-day stock price prediction: stages of the training and daily pipelines."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        ctx.obj = Context(load_params(params, overrides), Settings.from_env())
    except ConfigError as exc:
        fail(str(exc), code=2)


def fail(message: str, code: int = 1) -> None:
    """Print an error to stderr and exit non-zero."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def day(value: datetime | None) -> date | None:
    """The date part of a parsed --as-of option."""
    return value.date() if value is not None else None


def emit(value: object) -> None:
    """Print the command's key output as the last line of stdout."""
    print(value, flush=True)


@app.command()
def ingest(ctx: typer.Context, as_of: AsOf = None) -> None:
    """Fetch rows newer than the latest stored day per ticker; prints rows added in total."""
    from stockpredictor.stages.common import store_engine
    from stockpredictor.stages.ingest import ingest as run

    c: Context = ctx.obj
    result = run(store_engine(c.settings), c.params, day(as_of))
    table = Table("ticker", "rows added", "error", title=f"ingest up to {result.as_of}")
    for ticker in c.params.data.tickers:
        table.add_row(ticker, str(result.added.get(ticker, "-")), result.errors.get(ticker, ""))
    stderr.print(table)
    if result.errors:
        fail(f"ingest failed for {', '.join(result.errors)} (the other tickers were stored)")
    emit(result.total_added)


@app.command()
def process(ctx: typer.Context, as_of: AsOf = None) -> None:
    """Compute features from all raw data up to as_of; prints the new DATASET_RUN_ID."""
    from stockpredictor.stages.common import store_engine
    from stockpredictor.stages.process import process as run

    c: Context = ctx.obj
    result = run(store_engine(c.settings), c.params, day(as_of))
    stderr.print(
        f"dataset {result.dataset_run_id}: {result.n_days} days ({result.first_date}..{result.last_date}) x "
        f"{len(result.tickers)} stocks x {len(result.feature_columns)} features"
    )
    emit(result.dataset_run_id)


@app.command()
def scale(ctx: typer.Context, run_id: RunId, as_of: AsOf = None) -> None:
    """Split and scale dataset RUN_ID (scalers fitted on train only); prints the run id."""
    from stockpredictor.stages.common import store_engine
    from stockpredictor.stages.scale import scale as run

    c: Context = ctx.obj
    result = run(store_engine(c.settings), c.params, run_id)
    stderr.print(
        f"dataset {run_id}: {result.split.train}/{result.split.validation}/{result.split.test} "
        f"train/validation/test windows of {result.sequence_length} days, "
        f"{result.stored_bytes:,} bytes stored"
    )
    emit(run_id)


def run() -> None:
    """Entry point: turn expected failures into one-line errors and a non-zero exit code."""
    from stockpredictor.errors import EXPECTED_ERRORS

    try:
        app()
    except EXPECTED_ERRORS as exc:
        stderr.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)


# Command groups living in their own modules register themselves on `app` when imported.
from stockpredictor import cli_daily, cli_pipeline, cli_serve, cli_training  # noqa: E402,F401
