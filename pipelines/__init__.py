"""The training and daily pipelines; each compiles to `<name>.yaml` next to this file (shipped with it).

`PIPELINES` is the distribution's entry point `stockpredictor.pipelines:catalogue` (pyproject.toml):
`stockpredictor pipeline ...` finds the pipelines through it without the domain importing this package.
"""

from pathlib import Path

from kfp.dsl.graph_component import GraphComponent

from pipelines.daily import daily_pipeline
from pipelines.training import training_pipeline

PIPELINES: dict[str, GraphComponent] = {"training": training_pipeline, "daily": daily_pipeline}


def compiled_path(name: str) -> Path:
    """The committed compiled YAML of pipeline `name`."""
    return Path(__file__).with_name(f"{name}.yaml")
