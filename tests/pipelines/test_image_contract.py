"""The image contract, without a container engine: every executor of both COMPILED pipelines runs from
an install that cannot see the checkout, as KFP's launcher would start it in the project image.

- the install: the wheel in a fresh virtualenv outside the repository, dependencies exactly as
  images/requirements-runtime.lock pins them, `pip check` (tests/support/image_venv.py, laid out as the
  image's layers);
- the pod: working directory outside the repository, no PYTHONPATH, PATH with the venv first (the
  image's `ENV PATH`), params at a ConfigMap-like mount (kubelet's `..data` symlinks, read-only),
  STOCKPREDICTOR_DATABASE_URL / MLFLOW_TRACKING_URI as the Secret injects them (a real PostgreSQL
  database and the real MLflow server), run as `nobody` when the tests run as root;
- the step: the executor's own `command` + `args` from pipelines/*.yaml (`sh -ec ... executor_main`)
  with `{{$}}` replaced by an executor input shaped like the KFP v2 driver's, output artifacts under a
  launcher-like root (`<root>/minio/<bucket>/v2/artifacts/<pipeline>/<run>/<task>/<output>`).

A tiny training run (training.yaml) then a daily run (daily.yaml) pass outputs along as the driver
does: output parameters and artifacts (with their metadata) from each step's executor output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pipelines.tasks import PARAMS_MOUNT_PATH
from sqlalchemy import Engine

from stockpredictor.stages.session import NEW_SESSION
from tests.conftest import REPO, create_pg_database, drop_pg_database
from tests.support.image_venv import image_venv
from tests.support.mlflow_server import MlflowServer
from tests.support.overrides import REPLAY

pytestmark = pytest.mark.slow

NOBODY = 65534
TRAIN_AS_OF, DAILY_AS_OF = "2013-02-27", "2013-02-28"
# the shared replay's tiny trainings, with registry entries of its own on the session's MLflow server
OVERRIDES = [*REPLAY, "train.model_name=ImageContractModel", "train.experiment_name=image-contract"]


def compiled(name: str) -> dict[str, Any]:
    return next(yaml.safe_load_all((REPO / "pipelines" / f"{name}.yaml").read_text()))


@dataclass
class StepResult:
    executor: str
    definition: str  # the executor's compiled definition (command, args, image, env) as canonical JSON
    exit_code: int
    parameters: dict[str, Any]
    artifacts: dict[str, dict[str, Any]]
    log: str


@dataclass
class Launcher:
    """Starts compiled executors the way KFP's launcher does, in a pod-like environment."""

    python: Path
    root: Path
    env: dict[str, str]
    as_user: list[str]
    run_id: str = "run-image-contract"
    results: list[StepResult] = field(default_factory=list)

    def run(
        self, spec: dict[str, Any], task: str, parameters: dict[str, Any], artifacts: dict[str, Any]
    ) -> StepResult:
        """Run component `task` of compiled pipeline `spec` with these inputs; its outputs by name."""
        component = spec["components"][f"comp-{task}"]
        inputs = component.get("inputDefinitions", {})
        assert set(parameters) == set(inputs.get("parameters", {})), f"{task}: parameters"
        assert set(artifacts) == set(inputs.get("artifacts", {})), f"{task}: artifacts"
        label = component["executorLabel"]
        container = spec["deploymentSpec"]["executors"][label]["container"]
        step_dir = self.root / "steps" / task
        outputs = component.get("outputDefinitions", {})
        artifact_root = self.root / "minio" / "mlpipeline" / "v2" / "artifacts" / spec["pipelineInfo"]["name"]
        executor_input = {
            "inputs": {
                "parameterValues": parameters,
                "artifacts": {name: {"artifacts": [a]} for name, a in artifacts.items()},
            },
            "outputs": {
                "parameters": {
                    name: {"outputFile": str(step_dir / "outputs" / name)}
                    for name in outputs.get("parameters", {})
                },
                "artifacts": {
                    name: {
                        "artifacts": [
                            {
                                "name": name,
                                "type": definition["artifactType"],
                                "uri": str(artifact_root / self.run_id / task / name),
                                "metadata": {},
                            }
                        ]
                    }
                    for name, definition in outputs.get("artifacts", {}).items()
                },
                "outputFile": str(step_dir / "executor_output.json"),
            },
        }
        argv = [
            *container["command"],
            *(json.dumps(executor_input) if a == "{{$}}" else a for a in container["args"]),
        ]
        env = {**self.env, **{e["name"]: self._mounted(e["value"]) for e in container.get("env", [])}}
        done = subprocess.run(
            [*self.as_user, *argv],
            cwd=self.root / "work",
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        output_file = step_dir / "executor_output.json"
        written = json.loads(output_file.read_text()) if output_file.is_file() else {}
        result = StepResult(
            f"{spec['pipelineInfo']['name']}/{label}",
            json.dumps(spec["deploymentSpec"]["executors"][label], sort_keys=True),
            done.returncode,
            written.get("parameterValues", {}),
            {
                name: {**value["artifacts"][0], "type": outputs["artifacts"][name]["artifactType"]}
                for name, value in written.get("artifacts", {}).items()
            },
            done.stdout[-2000:] + done.stderr[-4000:],
        )
        self.results.append(result)
        assert result.exit_code == 0, f"{result.executor} exited {result.exit_code}:\n{result.log}"
        return result

    def _mounted(self, value: str) -> str:
        """A path under the ConfigMap's mount, moved under this pod's root."""
        return str(self.root / value.lstrip("/")) if value.startswith(PARAMS_MOUNT_PATH) else value


def configmap_volume(mount: Path, files: dict[str, str]) -> None:
    """A read-only directory laid out as kubelet mounts a ConfigMap (`key -> ..data/key`)."""
    version = mount / "..2026_01_01_00_00_00.000000000"
    version.mkdir(parents=True)
    for key, text in files.items():
        (version / key).write_text(text)
        (mount / key).symlink_to(Path("..data") / key)
    (mount / "..data").symlink_to(version.name)
    for path in (version, mount):
        path.chmod(0o555)


@pytest.fixture(scope="module")
def launcher(pg_admin: Engine, mlflow_server: MlflowServer) -> Iterator[Launcher]:
    python, interpreter_env = image_venv()
    root = Path(tempfile.mkdtemp(prefix="stockpredictor-pod-"))  # not under pytest's 0700 tmp folder
    assert REPO not in root.parents and REPO not in python.parents
    database = create_pg_database(pg_admin)
    try:
        for writable in ("work", "home", "data", "steps", "minio"):
            (root / writable).mkdir()
        configmap_volume(
            root / PARAMS_MOUNT_PATH.lstrip("/"), {"params.yaml": (REPO / "params.yaml").read_text()}
        )
        as_user: list[str] = []
        if os.geteuid() == 0 and shutil.which("setpriv"):
            as_user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
            for writable in ("work", "home", "data", "steps", "minio"):
                os.chown(root / writable, NOBODY, NOBODY)
        root.chmod(0o755)
        env = {
            "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(root / "home"),
            "PYTHONUNBUFFERED": "1",
            "MPLCONFIGDIR": str(root / "home" / "matplotlib"),
            "STOCKPREDICTOR_DATA_DIR": str(root / "data"),
            "STOCKPREDICTOR_DATABASE_URL": database,
            "MLFLOW_TRACKING_URI": mlflow_server.url,
            **interpreter_env,  # the image's Python lives in /usr/local; this machine's may need its lib
        }
        yield Launcher(python, root, env, as_user)
    finally:
        drop_pg_database(pg_admin, database)
        for path in root.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_nothing_of_the_checkout_is_importable(launcher: Launcher) -> None:
    probe = "import components, pipelines, stockpredictor as s; print(s.__file__, components.__file__)"
    done = subprocess.run(
        [*launcher.as_user, "python3", "-c", probe],
        cwd=launcher.root / "work",
        env=launcher.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    venv = launcher.python.parent.parent
    for module in done.stdout.split():
        assert Path(module).is_relative_to(venv), module
    assert "PYTHONPATH" not in launcher.env


#: The final status a KFP driver gives an exit handler's step whose body succeeded.
SUCCEEDED = {
    "state": "SUCCEEDED",
    "pipelineJobResourceName": "contract",
    "pipelineTaskName": "exit-handler-1",
}


def test_every_compiled_executor_runs_from_the_installed_image(launcher: Launcher) -> None:
    training, daily = compiled("training"), compiled("daily")
    run = launcher.run
    overrides = json.dumps(OVERRIDES)

    # training.yaml, in the order its DAG runs
    ov = run(training, "configure", {"params_overrides": overrides, "tickers": "", "n_trials": 0}, {})
    ov_value = ov.parameters["Output"]
    run(training, "ingest", {"params_overrides": ov_value, "as_of": TRAIN_AS_OF}, {})
    dataset = run(training, "process", {"params_overrides": ov_value, "as_of": TRAIN_AS_OF}, {})
    scaled = run(
        training, "scale", {"params_overrides": ov_value, "dataset_run_id": dataset.parameters["Output"]}, {}
    )
    dataset_run_id = scaled.parameters["Output"]
    on_dataset = {"params_overrides": ov_value, "dataset_run_id": dataset_run_id}
    workers = run(training, "optimize-study", {**on_dataset, "workers": 0}, {}).parameters["Output"]
    for worker in workers:
        run(training, "optimize-worker", {**on_dataset, "worker": worker}, {})
    run(training, "optimize-collect", on_dataset, {})
    trained = run(training, "train", on_dataset, {})
    assert Path(trained.artifacts["report"]["uri"]).is_relative_to(launcher.root / "minio")
    run(
        training,
        "promote",
        {"params_overrides": ov_value, "as_of": TRAIN_AS_OF, "mlflow_run_id": trained.parameters["Output"]},
        {},
    )
    # the exit handler's step: the promotion decision's alert (no webhook in the Secret: only logged)
    notified = run(training, "notify", {"pipeline": "stockpredictor-training", "status": SUCCEEDED}, {})
    assert notified.parameters["Output"] == 1

    # daily.yaml: its own steps (the production model now exists, so no nested training)
    ov_value = run(
        daily, "configure", {"params_overrides": overrides, "tickers": "", "n_trials": 0}, {}
    ).parameters["Output"]
    run(daily, "ingest", {"params_overrides": ov_value, "as_of": DAILY_AS_OF}, {})
    current = run(daily, "session", {"params_overrides": ov_value, "as_of": DAILY_AS_OF}, {})
    assert current.parameters["Output"] == NEW_SESSION
    production = run(daily, "production-model", {"params_overrides": ov_value}, {})
    model = production.artifacts["model"]
    assert model["metadata"]["dataset_run_id"] == dataset_run_id
    window = run(
        daily, "prepare-input", {"params_overrides": ov_value, "as_of": DAILY_AS_OF}, {"model": model}
    )
    predicted = run(
        daily,
        "predict",
        {"params_overrides": ov_value},
        {"model": model, "window": window.artifacts["window"]},
    )
    assert "| AAPL |" in Path(predicted.artifacts["table"]["uri"]).read_text()
    run(daily, "monitor", {"params_overrides": ov_value, "as_of": DAILY_AS_OF}, {})
    run(daily, "notify", {"pipeline": "stockpredictor-daily", "status": SUCCEEDED}, {})

    report = "\n".join(f"  {r.executor}: exit {r.exit_code}" for r in launcher.results)
    print(f"\nexecutors run as uid {os.geteuid() if not launcher.as_user else NOBODY}:\n{report}")
    # every executor of both YAMLs (the daily's nested trainings included) is one of those that ran
    ran = {r.definition for r in launcher.results}
    for spec in (training, daily):
        for label, executor in spec["deploymentSpec"]["executors"].items():
            assert json.dumps(executor, sort_keys=True) in ran, f"{label} never ran"
