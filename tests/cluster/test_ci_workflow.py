"""The CI workflow's delivery chain: build and push both images tagged with the commit SHA, compile
against that image, upload both pipelines, move the daily recurring run; every multi-command step
stops at its first failing command."""

from __future__ import annotations

from typing import Any

import yaml

from tests.cluster.assets import REPO

WORKFLOW = REPO / ".github" / "workflows" / "pipelines.yml"


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def scripts(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_every_multi_command_step_fails_on_its_first_failing_command() -> None:
    for name, job in workflow()["jobs"].items():
        for script in scripts(job):
            commands = [line for line in script.splitlines() if line.strip() and not line.startswith(" ")]
            if len(commands) > 1 or "|" in script.replace("||", ""):
                assert script.startswith("set -euo pipefail\n"), f"{name}: {script}"


def test_images_are_built_pushed_and_tagged_with_the_commit() -> None:
    flow = workflow()
    images = flow["jobs"]["images"]
    assert images["permissions"]["packages"] == "write"
    text = "\n".join(scripts(images))
    for repository in ("PROJECT_REPOSITORY", "MLFLOW_REPOSITORY"):
        assert f"${{registry}}/${{{repository}}}:${{GITHUB_SHA}}" in text
    assert set(images["outputs"]) == {"project", "mlflow"}
    builds = [s for s in scripts(images) if "docker build" in s]
    assert [("images/Dockerfile" in s, "images/mlflow.Dockerfile" in s) for s in builds] == [
        (True, False),
        (False, True),
    ]
    assert all(s.index("docker build") < s.index("docker push") for s in builds)


def test_pipelines_are_compiled_uploaded_and_scheduled_against_the_commit_image() -> None:
    flow = workflow()
    deliver = flow["jobs"]["deliver"]
    assert deliver["needs"] == "images"
    assert flow["jobs"]["images"]["needs"] == "compile"
    assert deliver["env"]["STOCKPREDICTOR_IMAGE"] == "${{ needs.images.outputs.project }}"
    steps = "\n".join(scripts(deliver))
    chain = [
        'python -m pipelines.compile --output-dir compiled --expect-image "$STOCKPREDICTOR_IMAGE"',
        "stockpredictor pipeline upload training --version",
        "stockpredictor pipeline schedule daily --replace",
    ]
    positions = [steps.index(command) for command in chain]
    assert positions == sorted(positions)
    assert "--check" in "\n".join(scripts(flow["jobs"]["compile"]))


def test_every_change_to_what_runs_triggers_the_workflow() -> None:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    triggers = loaded[True]  # YAML 1.1 reads the key `on` as True
    for event in ("push", "pull_request"):
        paths = set(triggers[event]["paths"])
        for needed in ("params.yaml", ".github/workflows/pipelines.yml", "manifests/**", "images/**"):
            assert needed in paths, (event, needed)
        assert "requirements.lock" in paths


def test_delivery_to_a_cluster_github_cannot_reach_runs_on_a_self_hosted_kind_runner() -> None:
    deliver = workflow()["jobs"]["deliver"]
    assert deliver["runs-on"] == (
        "${{ vars.DELIVER_ON == 'kind' && fromJSON('[\"self-hosted\", \"kind\"]') || 'ubuntu-24.04' }}"
    )
    check = next(s["run"] for s in deliver["steps"] if s.get("name") == "Check the KFP_HOST secret")
    assert "DELIVER_ON=kind" in check and "make deliver" in check
    deploy = next(s for s in deliver["steps"] if "make deploy" in s.get("run", ""))
    assert deploy["if"] == "vars.DELIVER_ON == 'kind'"
    assert deliver["env"]["STOCKPREDICTOR_IMAGE_PULL_SECRET"] == "${{ vars.IMAGE_PULL_SECRET }}"
