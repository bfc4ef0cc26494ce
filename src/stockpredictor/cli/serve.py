"""`stockpredictor serve`: the prediction API and dashboard under uvicorn, shedding load past its limits."""

from __future__ import annotations

from typing import Annotated

import typer

from stockpredictor.cli.options import context
from stockpredictor.errors import UsageError

commands = typer.Typer()

#: Seconds uvicorn waits for requests at work after SIGTERM before cancelling them.
GRACEFUL_SHUTDOWN_SECONDS = 2


def _bounded(option: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise UsageError(f"{option} {value:g} is outside {low:g}..{high:g}")


@commands.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 in a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (1..65535).")] = 8000,
    concurrency: Annotated[
        int, typer.Option(help="Requests at work at once (worker threads and database connections).")
    ] = 16,
    queue: Annotated[
        int, typer.Option(help="Requests that may wait (up to a second) for a worker; beyond: 503.")
    ] = 64,
    request_timeout: Annotated[
        float, typer.Option(help="Seconds a request may take before it is answered 504.")
    ] = 10.0,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="A Host header to answer (repeatable; *.example.com and * allowed). "
            "Default: the --host address and localhost. Others get 400 (the probes excepted).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the prediction API (OpenAPI docs at /docs) and the dashboard at / until interrupted."""
    _bounded("--port", port, 1, 65_535)
    _bounded("--concurrency", concurrency, 1, 1_000)
    _bounded("--queue", queue, 0, 100_000)
    _bounded("--request-timeout", request_timeout, 0.1, 3_600)
    import uvicorn

    from stockpredictor.api import create_app
    from stockpredictor.api.hosts import default_allowed_hosts
    from stockpredictor.api.shedding import Limits

    c = context(ctx)
    limits = Limits(concurrency=concurrency, queue=queue, request_timeout_seconds=request_timeout)
    uvicorn.run(
        create_app(c.settings, c.params, limits, allowed_host or default_allowed_hosts(host)),
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        backlog=4096,
    )
