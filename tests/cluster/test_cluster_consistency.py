"""One image name and tag everywhere: components/image.py, mk/cluster.mk, the kind overlay, the CI
workflow and the compiled pipelines; and the compiled pipelines' Secret/ConfigMap references resolve
on the cluster."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
import yaml

from tests.cluster.assets import (
    CONFIGMAP_NAME,
    REPO,
    SECRET_KEYS,
    SECRET_NAME,
    compiled_pipelines,
    make_variable,
    pod_specs,
    project_image,
    walk,
)


def images_of(resources: list[dict[str, Any]], workload: str) -> set[str]:
    (resource,) = [r for r in resources if r["metadata"]["name"] == workload and r["kind"] == "Deployment"]
    return {c["image"] for spec in pod_specs(resource) for c in spec["containers"]}


def test_project_image_tag_is_the_package_version() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert project_image() == f"ghcr.io/stockpredictor/stockpredictor:{version}"


def test_makefile_builds_and_loads_the_project_image() -> None:
    assert make_variable("IMAGE") == project_image()
    mk = (REPO / "mk" / "cluster.mk").read_text()
    assert "-t $(IMAGE)" in mk and "load docker-image" in mk


def test_ci_workflow_pushes_to_the_repositories_of_the_release_images() -> None:
    env = yaml.safe_load((REPO / ".github" / "workflows" / "pipelines.yml").read_text())["env"]
    registry = re.fullmatch(r"\$\{\{ vars\.REGISTRY \|\| '([\w.-]+)' \}\}", env["REGISTRY"])
    assert registry, env["REGISTRY"]
    for repository, image in (
        (env["PROJECT_REPOSITORY"], project_image()),
        (env["MLFLOW_REPOSITORY"], make_variable("MLFLOW_IMAGE")),
    ):
        assert f"{registry.group(1)}/{repository}" == image.rsplit(":", 1)[0]


def test_kind_overlay_deploys_the_images_the_makefile_builds(kind_resources: list[dict[str, Any]]) -> None:
    assert images_of(kind_resources, "stockpredictor-api") == {project_image()}
    assert images_of(kind_resources, "stockpredictor-mlflow") == {make_variable("MLFLOW_IMAGE")}


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


def test_docs_and_dockerfile_comments_name_the_same_tags() -> None:
    tag_re = re.compile(r"ghcr\.io/stockpredictor/[\w-]+:[\w.]+")
    allowed = {project_image(), make_variable("MLFLOW_IMAGE")}
    for path in [
        REPO / "images" / "Dockerfile",
        REPO / "images" / "mlflow.Dockerfile",
        REPO / "docs" / "operations.md",
    ]:
        found = set(tag_re.findall(path.read_text()))
        assert found <= allowed, f"{path.relative_to(REPO)}: {found - allowed}"
