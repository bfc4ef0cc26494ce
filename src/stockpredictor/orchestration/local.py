"""Running a KFP pipeline here through `kfp.local`: every task a subprocess, no cluster, no Docker."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockpredictor.config import DATA_DIR_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV, PARAMS_ENV, Settings
from stockpredictor.errors import PipelineError
from stockpredictor.orchestration.step_log import Step, StepLog

if TYPE_CHECKING:
    from kfp.dsl.graph_component import GraphComponent


@dataclass(frozen=True)
class LocalRun:
    """Where a local run left its artifacts and its logs, and how long it took."""

    output_dir: Path
    log_dir: Path
    seconds: float


def run_local(
    pipeline: GraphComponent,
    arguments: dict[str, Any],
    settings: Settings,
    params_path: Path,
    on_step: Callable[[Step], None] = lambda _step: None,
) -> LocalRun:
    """Run a pipeline with `kfp.local.SubprocessRunner` in this environment (no cluster, no Docker).

    Every task is a subprocess of this interpreter: it gets the store, MLflow and data-dir settings
    as absolute values in its environment, and the params file at `params_path` instead of the
    ConfigMap mount the compiled pipeline points at. Each run has a folder of its own under
    DATA_DIR/kfp (two runs at once never mix); kfp.local's output and every task's log go to files in
    its `logs` folder, and `on_step` hears of each task as it finishes.
    """
    from kfp import local

    local_pipeline = _with_params_file(pipeline, params_path.resolve())
    (settings.data_dir / "kfp").mkdir(parents=True, exist_ok=True)
    run_root = Path(tempfile.mkdtemp(prefix=f"{pipeline.name}-", dir=settings.data_dir / "kfp"))
    log_dir = run_root / "logs"
    environment = {
        DATA_DIR_ENV: str(settings.data_dir),
        DATABASE_URL_ENV: settings.database_url,
        MLFLOW_URI_ENV: settings.mlflow_tracking_uri,
        PARAMS_ENV: str(params_path.resolve()),
    }
    start = time.perf_counter()
    with (
        _environ(environment),
        StepLog(log_dir, on_step) as steps,
        contextlib.redirect_stdout(steps),
        _root_logging_to(steps),
        warnings.catch_warnings(),
    ):
        # Expected here: the tasks run in this environment, not in the project image, with no resources.
        warnings.filterwarnings("ignore", message="You may be attemp")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")
        local.init(
            runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(run_root), raise_on_error=True
        )
        try:
            local_pipeline(**arguments)
        except RuntimeError as exc:
            raise PipelineError(
                f"local {pipeline.name} pipeline failed: {steps.failure(exc)} (logs in {log_dir})"
            ) from None
    (output_dir,) = [path for path in run_root.iterdir() if path != log_dir]
    return LocalRun(output_dir, log_dir, time.perf_counter() - start)


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
def _root_logging_to(stream: StepLog) -> Iterator[None]:
    """Send the root logger's records (kfp.local logs there too) to `stream` for the block."""
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [logging.StreamHandler(stream)]
    try:
        yield
    finally:
        root.handlers = saved


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
