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
    assert flow["env"]["REGISTRY"] == "${{ vars.REGISTRY || 'ghcr.io' }}"
    images = flow["jobs"]["images"]
    assert images["permissions"]["packages"] == "write"
    text = "\n".join(scripts(images))
    for repository in ("PROJECT_REPOSITORY", "MLFLOW_REPOSITORY"):
        assert f"${{REGISTRY}}/${{{repository}}}:${{GITHUB_SHA}}" in text
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
