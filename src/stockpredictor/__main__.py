"""`python -m stockpredictor` runs the CLI."""

from stockpredictor.cli import run

run()
