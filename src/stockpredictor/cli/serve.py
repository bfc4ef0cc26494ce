"""`stockpredictor serve`: the prediction API and dashboard under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from stockpredictor.cli.options import context
from stockpredictor.errors import UsageError

commands = typer.Typer()


@commands.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 in a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the prediction API (OpenAPI docs at /docs) and the dashboard at / until interrupted."""
    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port}: a TCP port is a number in 1..65535")
    import uvicorn

    from stockpredictor.api import create_app

    c = context(ctx)
    uvicorn.run(create_app(c.settings, c.params), host=host, port=port, log_level="info")
