"""The `stockpredictor` command line: `app` (Typer) and `run` (the script's entry point).

`app.py` assembles the commands of `training`, `daily`, `pipeline` and `serve`; `options.py` holds
what they share.
"""

from stockpredictor.cli.app import app, run

__all__ = ["app", "run"]
