"""What the command modules share: option types, the context, the key-output and error conventions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console

from stockpredictor.errors import UsageError
from stockpredictor.stages.common import RuntimeContext, check_as_of

stderr = Console(stderr=True)


def _checked_as_of(ctx: typer.Context, value: datetime | None) -> datetime | None:
    """--as-of checked (`check_as_of`) when it is parsed, before the command opens or creates the store."""
    if value is not None and not ctx.resilient_parsing:
        check_as_of(value.date(), context(ctx).params)
    return value


AsOf = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Day the run stands on (no data after it is used).",
        callback=_checked_as_of,
    ),
]
DatasetRunId = Annotated[
    str | None,
    typer.Option(
        "--dataset-run-id", help="DATASET_RUN_ID printed by `process` (required).", show_default=False
    ),
]
#: The earlier name of --dataset-run-id (scale, optimize, train) and of --mlflow-run-id (promote).
RunIdAlias = Annotated[str | None, typer.Option("--run-id", hidden=True)]


def context(ctx: typer.Context) -> RuntimeContext:
    """The params, settings and store the root command set up for every command."""
    runtime: RuntimeContext = ctx.find_root().obj
    return runtime


def day(value: datetime | None) -> date | None:
    """The date part of a parsed --as-of option."""
    return value.date() if value is not None else None


def one_of(value: str | None, alias: str | None, option: str, alias_option: str = "--run-id") -> str | None:
    """The value of `option` given under its name or its hidden old name (`alias_option`), not both."""
    if value is not None and alias is not None and value != alias:
        raise UsageError(f"{option} and {alias_option} (its old name) disagree: give {option} once")
    return value if value is not None else alias


def required(value: str | None, option: str) -> str:
    """`value`, or a usage error naming the missing `option`."""
    if not value:
        raise UsageError(f"missing option {option}")
    return value


def emit(value: object) -> None:
    """Print the command's key output as the last line of stdout."""
    print(value, flush=True)
