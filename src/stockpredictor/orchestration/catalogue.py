"""The installed pipelines by name, and the parameters both take.

The `pipelines` package registers its catalogue (`pipelines:PIPELINES`) under the entry point
`stockpredictor.pipelines` / `catalogue` of the distribution, so the domain finds the pipelines without
importing the package that imports it, from any working directory.
"""

from __future__ import annotations

import json
from datetime import date
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from stockpredictor.errors import PipelineError

if TYPE_CHECKING:
    from kfp.dsl.graph_component import GraphComponent

ENTRY_POINT_GROUP = "stockpredictor.pipelines"
ENTRY_POINT_NAME = "catalogue"


def installed_pipelines() -> dict[str, GraphComponent]:
    """Every pipeline by name (training, daily), as the installed distribution declares them."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=ENTRY_POINT_NAME)
    if not found:
        raise PipelineError(
            f"no pipelines are installed (entry point {ENTRY_POINT_GROUP}:{ENTRY_POINT_NAME}): "
            "install the stockpredictor distribution (`make install` or `pip install .`)"
        )
    catalogue: dict[str, GraphComponent] = next(iter(found)).load()
    return catalogue


def load_pipeline(name: str) -> GraphComponent:
    """The pipeline called `name` (training | daily)."""
    pipelines = installed_pipelines()
    if name not in pipelines:
        raise PipelineError(f"unknown pipeline {name!r}; choose from {', '.join(pipelines)}")
    return pipelines[name]


def pipeline_arguments(
    as_of: date | None = None, tickers: str = "", n_trials: int = 0, overrides: list[str] | None = None
) -> dict[str, Any]:
    """The parameters both pipelines take, from CLI-style values."""
    return {
        "as_of": as_of.isoformat() if as_of else "",
        "tickers": tickers,
        "n_trials": n_trials,
        "params_overrides": json.dumps(overrides or []),
    }
