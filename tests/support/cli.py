"""The `stockpredictor` command in tests: in this process through Typer's runner, or as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

from typer.testing import CliRunner, Result

from stockpredictor.cli import app
from stockpredictor.config import Settings
from tests.support.overrides import PARAMS_FILE


def global_options(*overrides: str) -> list[str]:
    """`--params` (the repository's params.yaml) and one `--set` per override."""
    return ["--params", str(PARAMS_FILE), *(arg for override in overrides for arg in ("--set", override))]


def command(*overrides: str) -> list[str]:
    """The `stockpredictor` command line with `global_options`, for a subprocess."""
    return [sys.executable, "-m", "stockpredictor", *global_options(*overrides)]


def environment(settings: Settings) -> dict[str, str]:
    """This process's environment pointing a `stockpredictor` subprocess at `settings`' stores."""
    return {
        **os.environ,
        "STOCKPREDICTOR_DATABASE_URL": settings.database_url,
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "STOCKPREDICTOR_DATA_DIR": str(settings.data_dir),
    }


def invoke(*args: str, overrides: Sequence[str] = (), env: Mapping[str, str] | None = None) -> Result:
    """Run `stockpredictor <global options> <args>` in this process."""
    return CliRunner().invoke(app, [*global_options(*overrides), *args], env=env)


def key_output(result: Result | subprocess.CompletedProcess[str]) -> str:
    """The last stdout line (every command prints its key output last) of a command that succeeded."""
    code = result.exit_code if isinstance(result, Result) else result.returncode
    assert code == 0, (result.stdout, result.stderr)
    return str(result.stdout).strip().splitlines()[-1]
