"""Running a KFP pipeline here through `kfp.local`: every task a subprocess, no cluster, no Docker."""

from __future__ import annotations

import contextlib
import copy
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockpredictor.config import DATA_DIR_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV, PARAMS_ENV, Settings
from stockpredictor.errors import PipelineError

if TYPE_CHECKING:
    from kfp.dsl.graph_component import GraphComponent


@dataclass(frozen=True)
class LocalRun:
    """Where a local run left its artifacts, and how long it took."""

    output_dir: Path
    seconds: float


def run_local(
    pipeline: GraphComponent, arguments: dict[str, Any], settings: Settings, params_path: Path
) -> LocalRun:
    """Run a pipeline with `kfp.local.SubprocessRunner` in this environment (no cluster, no Docker).

    Every task is a subprocess of this interpreter: it gets the store, MLflow and data-dir settings
    as absolute values in its environment, and the params file at `params_path` instead of the
    ConfigMap mount the compiled pipeline points at. kfp.local's own output goes to stderr.
    """
    from kfp import local

    local_pipeline = _with_params_file(pipeline, params_path.resolve())
    root = settings.data_dir / "kfp"
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    environment = {
        DATA_DIR_ENV: str(settings.data_dir),
        DATABASE_URL_ENV: settings.database_url,
        MLFLOW_URI_ENV: settings.mlflow_tracking_uri,
        PARAMS_ENV: str(params_path.resolve()),
    }
    start = time.perf_counter()
    with _environ(environment), contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        # Expected here: the tasks run in this environment, not in the project image, with no resources.
        warnings.filterwarnings("ignore", message="You may be attemp")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")
        local.init(
            runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True
        )
        try:
            local_pipeline(**arguments)
        except RuntimeError as exc:
            raise PipelineError(f"local {pipeline.name} pipeline failed: {exc}") from None
    new = sorted(set(root.iterdir()) - before, key=lambda p: p.stat().st_mtime)
    return LocalRun(new[-1] if new else root, time.perf_counter() - start)


def _with_params_file(pipeline: GraphComponent, params_path: Path) -> GraphComponent:
    """A copy of `pipeline` whose tasks read `params_path` instead of the cluster's ConfigMap mount."""
    local_copy = copy.deepcopy(pipeline)
    for executor in local_copy.pipeline_spec.deployment_spec["executors"].values():
        container = executor["container"]  # a protobuf Struct: no .get()
        if "env" not in container:
            continue
        for variable in container["env"]:
            if variable["name"] == PARAMS_ENV:
                variable["value"] = str(params_path)
    return local_copy


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
