"""`stockpredictor pipeline ...`: run the KFP pipelines locally, or submit and schedule them on a cluster."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from stockpredictor.cli.options import AsOf, context, day, emit, stderr
from stockpredictor.config import default_params_path
from stockpredictor.orchestration.catalogue import load_pipeline, pipeline_arguments
from stockpredictor.orchestration.cluster import DEFAULT_CRON, DEFAULT_EXPERIMENT, Cluster

commands = typer.Typer(
    no_args_is_help=True,
    help="Run the KFP pipelines here (kfp.local), or upload, submit and schedule them on a cluster.",
)


class PipelineName(StrEnum):
    training = "training"
    daily = "daily"


Name = Annotated[PipelineName, typer.Argument(help="Which pipeline.")]
Host = Annotated[
    str, typer.Option("--host", envvar="KFP_HOST", help="Kubeflow Pipelines API, e.g. http://localhost:8080.")
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="KFP_TOKEN", help="Bearer token when the KFP API requires authentication."
    ),
]
Tickers = Annotated[str, typer.Option("--tickers", help="Comma-separated tickers instead of params.yaml's.")]
Trials = Annotated[
    int, typer.Option("--n-trials", min=0, help="Optuna trials instead of params.yaml's (0 = keep).")
]
Experiment = Annotated[str, typer.Option("--experiment", help="KFP experiment of the runs.")]
Version = Annotated[
    str | None,
    typer.Option("--version", help="Name of the uploaded pipeline version (default: a UTC timestamp)."),
]


def _arguments(ctx: typer.Context, as_of: AsOf, tickers: str, n_trials: int) -> dict[str, object]:
    """Pipeline parameters; the global `--set` overrides travel with them to every task."""
    overrides: list[str] = ctx.find_root().params.get("overrides") or []
    return pipeline_arguments(day(as_of), tickers, n_trials, overrides)


@commands.command("run")
def run_pipeline(
    ctx: typer.Context, name: Name, as_of: AsOf = None, tickers: Tickers = "", n_trials: Trials = 0
) -> None:
    """Run a pipeline here with kfp.local (no cluster, no Docker); prints the folder of its artifacts.

    One line per finished step (name, status, seconds) goes to stderr; each step's full log is a file
    in the run's `logs` folder.
    """
    from stockpredictor.orchestration.local import Step, run_local

    def report(step: Step) -> None:
        stderr.print(f"  {step.name:<32} {step.status:<8} {step.seconds:7.1f} s", highlight=False)

    params_path: Path = ctx.find_root().params.get("params") or default_params_path()
    result = run_local(
        load_pipeline(name.value),
        _arguments(ctx, as_of, tickers, n_trials),
        context(ctx).settings,
        params_path,
        on_step=report,
    )
    stderr.print(
        f"pipeline {name.value} succeeded in {result.seconds:.0f} s; step logs in {result.log_dir}",
        highlight=False,
        soft_wrap=True,
    )
    emit(result.output_dir)


@commands.command()
def upload(name: Name, host: Host, token: Token = None, version: Version = None) -> None:
    """Upload the pipeline, or a new version of it when it exists; prints the version id."""
    published = Cluster(host, token).publish(load_pipeline(name.value), version)
    stderr.print(
        f"pipeline {published.display_name} ({published.pipeline_id}): version {published.version_id}"
    )
    emit(published.version_id)


@commands.command()
def submit(
    ctx: typer.Context,
    name: Name,
    host: Host,
    token: Token = None,
    as_of: AsOf = None,
    tickers: Tickers = "",
    n_trials: Trials = 0,
    experiment: Experiment = DEFAULT_EXPERIMENT,
    version: Version = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the run to finish; fail unless it succeeds.")
    ] = False,
    timeout: Annotated[int, typer.Option("--timeout", min=1, help="Seconds --wait waits.")] = 3600,
) -> None:
    """Upload the pipeline (or a new version of it) and start a run; prints the run id."""
    cluster = Cluster(host, token)
    run = cluster.submit(
        load_pipeline(name.value), _arguments(ctx, as_of, tickers, n_trials), experiment, version
    )
    stderr.print(f"run {run.run_id} started: {cluster.run_url(run.run_id)}")
    if wait:
        run = cluster.wait(run.run_id, timeout)
        stderr.print(f"run {run.run_id} succeeded")
    emit(run.run_id)


@commands.command("schedule")
def schedule_(
    ctx: typer.Context,
    host: Host,
    token: Token = None,
    name: Annotated[PipelineName, typer.Argument(help="Which pipeline.")] = PipelineName.daily,
    cron: Annotated[
        str,
        typer.Option("--cron", help="KFP cron, 6 fields (seconds first), UTC. Default: weekdays 22:30 UTC."),
    ] = DEFAULT_CRON,
    tickers: Tickers = "",
    n_trials: Trials = 0,
    experiment: Experiment = DEFAULT_EXPERIMENT,
    version: Version = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Then delete the pipeline's other recurring runs in the experiment (CI)."
        ),
    ] = False,
) -> None:
    """Create a recurring run (one at a time, no catch-up); each run uses its own day as as_of."""
    recurring = Cluster(host, token).schedule(
        load_pipeline(name.value),
        _arguments(ctx, None, tickers, n_trials),
        cron,
        experiment,
        version,
        replace=replace,
    )
    stderr.print(
        f"recurring run {recurring.display_name!r}: cron {cron!r} (UTC), max concurrency 1, no catch-up"
    )
    emit(recurring.recurring_run_id)


@commands.command()
def runs(
    host: Host,
    token: Token = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 10,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Only this experiment's runs.")
    ] = None,
) -> None:
    """Recent runs, newest first: one line per run (id, state, created, name)."""
    cluster = Cluster(host, token)
    recent = cluster.recent_runs(limit, experiment)
    for run in recent:
        print(f"{run.run_id}\t{run.state}\t{run.created_at}\t{run.display_name}")
    stderr.print(f"{len(recent)} run(s) on {cluster.host}")
