"""Both pipelines compile; the compiled specs have the declared structure, types and cluster settings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pipelines.compile import compile_pipeline, main
from pipelines.daily import RETRAIN
from pipelines.tasks import PARAMS_CONFIG_MAP, PARAMS_MOUNT_PATH, PARAMS_PATH, SECRET_NAME
from pipelines.training import MAX_PARALLEL_WORKERS

from pipelines import PIPELINES, compiled_path
from stockpredictor.config import ALERT_WEBHOOK_ENV
from stockpredictor.orchestration.runtime import PRODUCTION_MODEL_NONE
from stockpredictor.stages import monitor
from tests.conftest import REPO

STRING, INTEGER, LIST = "STRING", "NUMBER_INTEGER", "LIST"
METRICS, MARKDOWN, DATASET, MODEL = "system.Metrics", "system.Markdown", "system.Dataset", "system.Model"
HTML, CLASSIFICATION = "system.HTML", "system.ClassificationMetrics"

# component: (inputs, outputs) with KFP parameter types or artifact schema titles.
DECLARED: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "configure": ({"params_overrides": STRING, "tickers": STRING, "n_trials": INTEGER}, {"Output": STRING}),
    "ingest": (
        {"params_overrides": STRING, "as_of": STRING},
        {"Output": INTEGER, "rows_added": METRICS, "summary": MARKDOWN},
    ),
    "process": (
        {"params_overrides": STRING, "as_of": STRING},
        {"Output": STRING, "dataset": DATASET, "summary": MARKDOWN},
    ),
    "scale": (
        {"params_overrides": STRING, "dataset_run_id": STRING},
        {"Output": STRING, "split": METRICS, "summary": MARKDOWN},
    ),
    "optimize-study": (
        {"params_overrides": STRING, "dataset_run_id": STRING, "workers": INTEGER},
        {"Output": LIST},
    ),
    "optimize-worker": (
        {"params_overrides": STRING, "dataset_run_id": STRING, "worker": INTEGER},
        {"Output": INTEGER},
    ),
    "optimize-collect": (
        {"params_overrides": STRING, "dataset_run_id": STRING},
        {"Output": STRING, "study": METRICS, "summary": MARKDOWN, "history": HTML},
    ),
    "train": (
        {"params_overrides": STRING, "dataset_run_id": STRING},
        {
            "Output": STRING,
            "test_metrics": METRICS,
            "report": MARKDOWN,
            "figures": HTML,
            "direction": CLASSIFICATION,
            "direction_always_up": CLASSIFICATION,
            "direction_last_move": CLASSIFICATION,
            "model": MODEL,
        },
    ),
    "promote": (
        {"params_overrides": STRING, "as_of": STRING, "mlflow_run_id": STRING},
        {"Output": STRING, "comparison": METRICS, "summary": MARKDOWN},
    ),
    "production-model": ({"params_overrides": STRING}, {"Output": STRING, "model": MODEL}),
    "prepare-input": (
        {"params_overrides": STRING, "as_of": STRING, "model": MODEL},
        {"Output": STRING, "window": DATASET},
    ),
    "predict": (
        {"params_overrides": STRING, "model": MODEL, "window": DATASET},
        {"Output": STRING, "predictions": DATASET, "table": MARKDOWN},
    ),
    "monitor": (
        {"params_overrides": STRING, "as_of": STRING},
        {
            "Output": STRING,
            "window_metrics": METRICS,
            "summary": MARKDOWN,
            "fan_chart": HTML,
            "interval_coverage": MARKDOWN,
        },
    ),
    "notify": ({"pipeline": STRING, "status": "TASK_FINAL_STATUS"}, {"Output": INTEGER}),
}
TRAINING_STEPS = {
    "configure",
    "ingest",
    "process",
    "scale",
    "optimize-study",
    "optimize-worker",
    "optimize-collect",
    "train",
    "promote",
    "notify",
}
CACHED = {"scale", "optimize-worker", "optimize-collect", "train"}
DAILY_STEPS = {"configure", "ingest", "production-model", "prepare-input", "predict", "monitor", "notify"}
TRAINING_DAG = "comp-stockpredictor-training-steps"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each pipeline compiled afresh: its pipeline spec and its platform (Kubernetes) spec."""
    folder = tmp_path_factory.mktemp("compiled")
    specs = {}
    for name in PIPELINES:
        pipeline_spec, platform_spec = yaml.safe_load_all(
            compile_pipeline(name, folder / f"{name}.yaml").read_text()
        )
        specs[name] = {"pipeline": pipeline_spec, "platform": platform_spec}
    return specs


def base_name(key: str) -> str:
    """`comp-ingest-2` / `exec-ingest-2` -> `ingest` (the compiler numbers every further use)."""
    return re.sub(r"-\d+$", "", key.removeprefix("comp-").removeprefix("exec-"))


def executors(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return spec["pipeline"]["deploymentSpec"]["executors"]


def tasks(dag: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dag["dag"]["tasks"]


def steps(components: dict[str, Any], dag: dict[str, Any]) -> set[str]:
    """The components a DAG runs, looking into its nested graphs and ParallelFor loops."""
    found = set()
    for task in tasks(dag).values():
        name = task["componentRef"]["name"]
        found |= steps(components, components[name]) if "dag" in components[name] else {base_name(name)}
    return found


def test_committed_yaml_is_fresh() -> None:
    assert main(["--check"]) == 0, "run `make compile` and commit pipelines/*.yaml"
    assert {path.name for path in compiled_path("x").parent.glob("*.yaml")} == {"training.yaml", "daily.yaml"}


def test_check_fails_on_stale_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stale = tmp_path / "training.yaml"
    stale.write_text("# edited by hand\n")
    monkeypatch.setattr("pipelines.compile.compiled_path", lambda name: stale)
    assert main(["--check"]) == 1


def test_training_pipeline_steps_and_order(compiled: dict[str, dict[str, Any]]) -> None:
    spec = compiled["training"]["pipeline"]
    assert steps(spec["components"], spec["root"]) == TRAINING_STEPS
    after = {
        name: set(task.get("dependentTasks", []))
        for name, task in tasks(spec["components"][TRAINING_DAG]).items()
    }
    assert after["process"] == {"configure", "ingest"}
    assert after["train"] == {"configure", "optimize-search", "scale"}
    assert after["promote"] == {"configure", "train"}
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {
        "as_of",
        "tickers",
        "n_trials",
        "optimize_workers",
        "params_overrides",
    }


def test_optimize_workers_fan_out_in_a_parallel_for_then_one_task_collects(
    compiled: dict[str, dict[str, Any]],
) -> None:
    spec = compiled["training"]["pipeline"]
    search = tasks(spec["components"][TRAINING_DAG])["optimize-search"]
    assert search["taskInfo"]["name"] == "optimize"
    graph = tasks(spec["components"][search["componentRef"]["name"]])
    [loop_name] = set(graph) - {"optimize-study", "optimize-collect"}
    loop = graph[loop_name]
    assert loop["iteratorPolicy"] == {"parallelismLimit": MAX_PARALLEL_WORKERS}
    assert loop["parameterIterator"]["items"] == {"inputParameter": "pipelinechannel--optimize-study-Output"}
    assert "optimize-study" in loop["dependentTasks"]
    assert set(tasks(spec["components"][loop["componentRef"]["name"]])) == {"optimize-worker"}
    assert loop_name in graph["optimize-collect"]["dependentTasks"]
    resources = executors(compiled["training"])["exec-optimize-worker"]["container"]["resources"]
    assert resources["resourceCpuRequest"] and resources["resourceMemoryRequest"]


@pytest.mark.parametrize("name", ["training", "daily"])
def test_the_steps_run_inside_an_exit_handler_whose_notify_step_always_runs(
    compiled: dict[str, dict[str, Any]], name: str
) -> None:
    root = tasks(compiled[name]["pipeline"]["root"])
    assert set(root) == {"exit-handler-1", "notify"}
    assert root["notify"]["dependentTasks"] == ["exit-handler-1"]
    assert root["notify"]["triggerPolicy"] == {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    assert root["notify"]["inputs"]["parameters"]["pipeline"] == {
        "runtimeValue": {"constant": f"stockpredictor-{name}"}
    }


def test_daily_yaml_has_the_bootstrap_and_retraining_conditions_with_nested_training(
    compiled: dict[str, dict[str, Any]],
) -> None:
    spec = compiled["daily"]["pipeline"]
    components = spec["components"]
    conditions = {}
    for component in components.values():
        for task in tasks(component).values() if "dag" in component else []:
            if "condition" in task.get("triggerPolicy", {}):
                conditions[task["taskInfo"]["name"]] = (
                    task["triggerPolicy"]["condition"],
                    task["componentRef"]["name"],
                )
    bootstrap, _ = conditions["no-production-model"]
    assert (
        bootstrap
        == f"inputs.parameter_values['pipelinechannel--production-model-Output'] == '{PRODUCTION_MODEL_NONE}'"
    )
    retrain, _ = conditions["retrain"]
    assert retrain == f"inputs.parameter_values['pipelinechannel--monitor-Output'] == '{RETRAIN}'"
    # Inside each branch, the whole training pipeline runs as a nested DAG.
    for group, display_name in (("no-production-model", "bootstrap-training"), ("retrain", "retraining")):
        branch = components[conditions[group][1]]
        [nested] = tasks(branch).values()
        assert nested["taskInfo"]["name"] == display_name
        training_dag = components[nested["componentRef"]["name"]]
        assert steps(components, training_dag) == TRAINING_STEPS - {"notify"}  # one exit step, the daily's
    # The prediction path runs only when a production model exists, and monitoring after predicting.
    found = components[conditions["production-model-found"][1]]
    assert {base_name(t["componentRef"]["name"]) for t in tasks(found).values()} >= {
        "prepare-input",
        "predict",
        "monitor",
    }
    assert tasks(found)["monitor"]["dependentTasks"] == ["predict"]
    assert RETRAIN == monitor.RETRAIN


def test_every_component_has_its_declared_inputs_and_outputs(compiled: dict[str, dict[str, Any]]) -> None:
    seen = set()
    for spec in compiled.values():
        for key, component in spec["pipeline"]["components"].items():
            name = base_name(key)
            if name not in DECLARED:
                continue
            seen.add(name)
            inputs, outputs = DECLARED[name]
            assert _interface(component.get("inputDefinitions", {})) == inputs, name
            assert _interface(component.get("outputDefinitions", {})) == outputs, name
    assert seen == set(DECLARED) == TRAINING_STEPS | DAILY_STEPS


#: Inputs the compiler adds to the graphs of dsl.If / ParallelFor / ExitHandler: plumbing, not interface.
CHANNEL = "pipelinechannel--"


def undescribed(pipeline_spec: dict[str, Any]) -> list[str]:
    """Every pipeline parameter and component input or output (parameter or artifact) without a
    description in a compiled pipeline spec, as "component side name"."""
    specs = {"root": pipeline_spec["root"], **pipeline_spec["components"]}
    return [
        f"{component} {side} {name}"
        for component, spec in specs.items()
        for side in ("inputDefinitions", "outputDefinitions")
        for kind in ("parameters", "artifacts")
        for name, definition in spec.get(side, {}).get(kind, {}).items()
        if not name.startswith(CHANNEL) and not definition.get("description", "").strip()
    ]


@pytest.mark.parametrize("name", ["training", "daily"])
def test_every_parameter_input_and_output_has_a_description(
    compiled: dict[str, dict[str, Any]], name: str
) -> None:
    """The Kubeflow UI shows these descriptions (from the `Args:` / `Returns:` docstrings)."""
    spec = compiled[name]["pipeline"]
    assert undescribed(spec) == []
    assert spec["pipelineInfo"]["description"].strip()
    described = sum(
        "description" in definition
        for component in spec["components"].values()
        for side in ("inputDefinitions", "outputDefinitions")
        for kind in ("parameters", "artifacts")
        for definition in component.get(side, {}).get(kind, {}).values()
    )
    assert described > 50  # the check above looked at the real interface


def test_the_description_check_names_a_missing_description() -> None:
    spec = {
        "root": {"inputDefinitions": {"parameters": {"as_of": {"parameterType": STRING}}}},
        "components": {
            "comp-ingest": {
                "inputDefinitions": {
                    "parameters": {"as_of": {"description": "day", "parameterType": STRING}}
                },
                "outputDefinitions": {"artifacts": {"summary": {"description": " "}}},
            },
            "comp-condition-2": {"inputDefinitions": {"parameters": {f"{CHANNEL}as_of": {}}}},
        },
    }
    assert undescribed(spec) == ["root inputDefinitions as_of", "comp-ingest outputDefinitions summary"]


def _interface(definitions: dict[str, Any]) -> dict[str, str]:
    parameters = {name: p["parameterType"] for name, p in definitions.get("parameters", {}).items()}
    artifacts = {
        name: a["artifactType"]["schemaTitle"] for name, a in definitions.get("artifacts", {}).items()
    }
    return {**parameters, **artifacts}


def test_every_step_gets_credentials_and_params_from_the_cluster(compiled: dict[str, dict[str, Any]]) -> None:
    for name, spec in compiled.items():
        platform = spec["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        assert set(platform) == set(executors(spec)), name
        for executor_name, config in platform.items():
            secret, *optional = config["secretAsEnv"]
            if base_name(executor_name) == "notify":  # the webhook URL: an optional key of the Secret
                [webhook] = optional
                assert (webhook["secretName"], webhook["optional"]) == (SECRET_NAME, True)
                assert webhook["keyToEnv"] == [{"envVar": ALERT_WEBHOOK_ENV, "secretKey": ALERT_WEBHOOK_ENV}]
            else:
                assert optional == []
            assert secret["secretName"] == SECRET_NAME
            assert {(k["secretKey"], k["envVar"]) for k in secret["keyToEnv"]} == {
                ("STOCKPREDICTOR_DATABASE_URL", "STOCKPREDICTOR_DATABASE_URL"),
                ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
                ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_USERNAME"),
                ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_PASSWORD"),
            }
            [mount] = config["configMapAsVolume"]
            assert (mount["configMapName"], mount["mountPath"]) == (PARAMS_CONFIG_MAP, PARAMS_MOUNT_PATH)
            env = executors(spec)[executor_name]["container"]["env"]
            assert env == [{"name": "STOCKPREDICTOR_PARAMS", "value": PARAMS_PATH}]


def test_images_retries_caching_and_resources(compiled: dict[str, dict[str, Any]]) -> None:
    from components.image import PROJECT_IMAGE

    for spec in compiled.values():
        for name, executor in executors(spec).items():
            container = executor["container"]
            assert container["image"] == PROJECT_IMAGE
            assert "pip install" not in " ".join(container["command"])  # kfp is in the image
            fitting = base_name(name) in {"optimize-worker", "train"}
            assert container["resources"]["resourceCpuLimit"] == ("2" if fitting else "1"), name
        for component in [spec["pipeline"]["root"], *spec["pipeline"]["components"].values()]:
            for task_name, task in tasks(component).items() if "dag" in component else []:
                step = base_name(task["componentRef"]["name"])
                if step in DECLARED:
                    cached = task.get("cachingOptions", {}).get("enableCache", False)
                    assert cached == (step in CACHED), task_name
                    assert ("retryPolicy" in task) == (step == "ingest"), task_name


def test_the_package_does_not_import_components_or_pipelines() -> None:
    """Layering: `stockpredictor` (CLI included) imports the KFP definitions only when a command runs."""
    code = "import json, sys, stockpredictor.cli; print(json.dumps([m.split('.')[0] for m in sys.modules]))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert not {"components", "pipelines"} & set(json.loads(loaded.stdout))
