"""One image name and tag everywhere: components/image.py, mk/cluster.mk, the kind overlay, the CI
workflow and the compiled pipelines; and the compiled pipelines' Secret/ConfigMap references resolve
on the cluster."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.assets import (
    CONFIGMAP_NAME,
    REPO,
    SECRET_KEYS,
    SECRET_NAME,
    build,
    compiled_pipelines,
    documents,
    make_variable,
    pod_specs,
    project_image,
    run,
    walk,
)


def images_of(resources: list[dict[str, Any]], workload: str) -> set[str]:
    (resource,) = [r for r in resources if r["metadata"]["name"] == workload and r["kind"] == "Deployment"]
    return {c["image"] for spec in pod_specs(resource) for c in spec["containers"]}


def test_project_image_tag_is_the_package_version() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert project_image() == f"ghcr.io/stockpredictor/stockpredictor:{version}"


def release_mlflow_image(kind_resources: list[dict[str, Any]]) -> str:
    (image,) = images_of(kind_resources, "stockpredictor-mlflow")
    return image


def test_makefile_builds_loads_and_deploys_the_images_of_the_commit() -> None:
    registry = make_variable("REGISTRY")
    assert make_variable("IMAGE") == "$(REGISTRY)/stockpredictor:$(COMMIT)"
    assert make_variable("MLFLOW_IMAGE") == "$(REGISTRY)/mlflow:$(COMMIT)"
    assert project_image().rsplit(":", 1)[0] == f"{registry}/stockpredictor"
    mk = (REPO / "mk" / "cluster.mk").read_text()
    assert "-t $(IMAGE)" in mk and "load docker-image" in mk
    assert "deploy_overlay.py $(OVERLAY) --image $(IMAGE) --mlflow-image $(MLFLOW_IMAGE)" in mk


def test_ci_workflow_pushes_to_the_repositories_the_makefile_builds() -> None:
    flow = yaml.safe_load((REPO / ".github" / "workflows" / "pipelines.yml").read_text())
    env = flow["env"]
    assert env["REGISTRY_VAR"] == "${{ vars.REGISTRY }}"
    refs = next(s["run"] for s in flow["jobs"]["images"]["steps"] if s.get("id") == "refs")
    assert 'registry="${REGISTRY_VAR:-ghcr.io/${GITHUB_REPOSITORY_OWNER,,}}"' in refs
    for variable, image in (("PROJECT_REPOSITORY", "IMAGE"), ("MLFLOW_REPOSITORY", "MLFLOW_IMAGE")):
        assert f"${{registry}}/${{{variable}}}:${{GITHUB_SHA}}" in refs
        assert make_variable(image) == f"$(REGISTRY)/{env[variable]}:$(COMMIT)"


def test_kind_overlay_names_the_release_images(kind_resources: list[dict[str, Any]]) -> None:
    assert images_of(kind_resources, "stockpredictor-api") == {project_image()}
    assert release_mlflow_image(kind_resources).rsplit(":", 1)[0] == f"{make_variable('REGISTRY')}/mlflow"


def test_compiled_pipelines_run_in_the_project_image() -> None:
    files = compiled_pipelines()
    if not files:
        pytest.skip("no compiled pipeline YAML under pipelines/ yet (`make compile` writes them)")
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        images = {value for doc in docs for key, value, _ in walk(doc) if key == "image"}
        assert images, f"{path.name}: no executor image found"
        assert images == {project_image()}, f"{path.name}: {images}"


def test_compiled_pipelines_reference_only_the_deployed_secret_and_configmap(
    kind_resources: list[dict[str, Any]],
) -> None:
    files = compiled_pipelines()
    if not files:
        pytest.skip("no compiled pipeline YAML under pipelines/ yet (`make compile` writes them)")
    configmap = next(
        r for r in kind_resources if r["kind"] == "ConfigMap" and r["metadata"]["name"] == CONFIGMAP_NAME
    )
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for doc in docs:
            for key, value, owner in walk(doc):
                if key == "secretName":
                    assert value == SECRET_NAME, f"{path.name}: unknown Secret {value!r}"
                    for mapping in owner.get("keyToEnv", []):
                        # an optional key (the alerts webhook URL) may be absent from the Secret
                        assert owner.get("optional") or mapping["secretKey"] in SECRET_KEYS, (
                            f"{path.name}: {mapping}"
                        )
                elif key == "configMapName":
                    assert value == CONFIGMAP_NAME, f"{path.name}: unknown ConfigMap {value!r}"
                    for mapping in owner.get("keyToEnv", []):
                        assert mapping["configMapKey"] in configmap["data"], f"{path.name}: {mapping}"


def test_docs_and_dockerfile_comments_name_the_same_tags(kind_resources: list[dict[str, Any]]) -> None:
    tag_re = re.compile(r"ghcr\.io/stockpredictor/[\w-]+:[\w.]+")
    allowed = {project_image(), release_mlflow_image(kind_resources)}
    for path in [
        REPO / "images" / "Dockerfile",
        REPO / "images" / "mlflow.Dockerfile",
        REPO / "docs" / "operations.md",
    ]:
        found = set(tag_re.findall(path.read_text()))
        assert found <= allowed, f"{path.relative_to(REPO)}: {found - allowed}"


def test_make_deploy_runs_the_api_and_mlflow_of_the_commit_pulled_with_the_secret(
    manifests_copy: Path,
) -> None:
    commit = "ghcr.io/acme/stockpredictor:0123456789ab", "ghcr.io/acme/mlflow:0123456789ab"
    overlay = manifests_copy / "overlays" / "kind"
    result = run(
        sys.executable,
        str(REPO / "scripts" / "deploy_overlay.py"),
        str(overlay),
        "--image",
        commit[0],
        "--mlflow-image",
        commit[1],
        "--pull-secret",
        "ghcr-pull",
    )
    assert result.returncode == 0, result.stderr
    resources = documents(build(overlay.parent / "kind-deploy"))
    assert images_of(resources, "stockpredictor-api") == {commit[0]}
    ours = {
        image for image in images_of(resources, "stockpredictor-mlflow") if not image.startswith("postgres:")
    }
    assert ours == {commit[1]}
    for name in ("stockpredictor-api", "stockpredictor-mlflow"):
        (deployment,) = [r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == name]
        assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "ghcr-pull"}]
