"""`stockpredictor` command line: one command per stage; the key output is the last stdout line.

Exit codes: 0 success, 1 a bug (its traceback is shown),
2 bad usage or configuration, 3 data missing from the store,
4 a price source failed, 5 the registry lacks the model (or it is unsafe),
6 a KFP pipeline failed, 7 the search or training produced no model,
8 the store, the registry, a file or the disk cannot be used (unreachable, permissions, disk full).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from stockpredictor.cli import daily, pipeline, serve, training
from stockpredictor.cli.options import stderr
from stockpredictor.config import Settings, load_params
from stockpredictor.errors import StockPredictorError
from stockpredictor.failures import reported_as_user_errors
from stockpredictor.stages.common import RuntimeContext


class _ReportingGroup(TyperGroup):
    """Runs a command; an error of the `StockPredictorError` family becomes one line and its exit code."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (of the click that this Typer uses)
        try:
            with reported_as_user_errors():
                return super().invoke(ctx)
        except StockPredictorError as exc:
            stderr.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_ReportingGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help=__doc__,
)
app.add_typer(training.commands)
app.add_typer(daily.commands)
app.add_typer(pipeline.commands, name="pipeline")
app.add_typer(serve.commands)


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
    ctx.obj = RuntimeContext(load_params(params, overrides), Settings.from_env())


def run() -> None:
    """Entry point of the `stockpredictor` script."""
    app()
