"""Helpers for the static checks of the cluster assets (no Docker engine or cluster is needed)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
KIND_CONFIG = REPO / "kind-config.yaml"
CLUSTER_MK = REPO / "mk" / "cluster.mk"
IMAGES = REPO / "images"
SECRET_NAME = "stockpredictor-secrets"
SECRET_KEYS = {
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "STOCKPREDICTOR_DB_PASSWORD",
    "STOCKPREDICTOR_DATABASE_URL",
    "MLFLOW_DB_PASSWORD",
    "MLFLOW_BACKEND_STORE_URI",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_ADMIN_USERNAME",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_READER_USERNAME",
    "MLFLOW_READER_PASSWORD",
    "STOCKPREDICTOR_READER_DB_PASSWORD",
    "STOCKPREDICTOR_READER_DATABASE_URL",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
}
CONFIGMAP_NAME = "stockpredictor-params"
PLACEHOLDER = "change-me"


def tool(name: str) -> str:
    """A dev tool from the venv running the tests (pinned wheels), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` not found: install the dev extras (`pip install -e .[dev]`)")
    return found


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def project_image() -> str:
    """components/image.py:RELEASE_IMAGE (the tag of the committed YAML), read without importing it."""
    tree = ast.parse((REPO / "components" / "image.py").read_text())
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["RELEASE_IMAGE"]
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    raise AssertionError("components/image.py defines no RELEASE_IMAGE string")


def make_variable(name: str) -> str:
    """The default (`NAME ?= value`) of a variable of mk/cluster.mk."""
    match = re.search(rf"^{name}\s*\?=\s*(\S+)\s*$", CLUSTER_MK.read_text(), re.MULTILINE)
    assert match, f"mk/cluster.mk has no `{name} ?= ...` line"
    return match.group(1)


def kind_kubernetes_version() -> str:
    """The Kubernetes version of the kind node image pinned by kind-config.yaml (e.g. 1.33.1)."""
    config = yaml.safe_load(KIND_CONFIG.read_text())
    versions = set()
    for node in config["nodes"]:
        match = re.fullmatch(r"kindest/node:v(\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}", node.get("image", ""))
        assert match, (
            f"kind node image must be kindest/node:vX.Y.Z@sha256:<digest>, got {node.get('image')!r}"
        )
        versions.add(match.group(1))
    assert len(versions) == 1, f"kind nodes pin different Kubernetes versions: {versions}"
    return versions.pop()


def overlays() -> list[Path]:
    return sorted(p.parent for p in (MANIFESTS / "overlays").glob("*/kustomization.yaml"))


def copy_manifests(dest: Path) -> Path:
    """A copy of manifests/ where each overlay's git-ignored secrets.env comes from its example.

    A real secrets.env in the working tree is never read: the build must work in a clean clone.
    """
    copy = dest / "manifests"
    shutil.copytree(MANIFESTS, copy, ignore=shutil.ignore_patterns("secrets.env"))
    for example in copy.glob("overlays/*/secrets.env.example"):
        shutil.copyfile(example, example.with_name("secrets.env"))
    return copy


def build(kustomization_dir: Path) -> str:
    """`kubectl kustomize` (the kustomize built into the pinned kubectl) of a directory."""
    result = run(tool("kubectl"), "kustomize", str(kustomization_dir))
    assert result.returncode == 0, f"kustomize build of {kustomization_dir} failed:\n{result.stderr}"
    return result.stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def walk(node: Any) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """Every (key, value, owning mapping) in a nested YAML structure."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value, node
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def compiled_pipelines() -> list[Path]:
    return sorted((REPO / "pipelines").glob("*.yaml"))


def pod_specs(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = resource.get("spec", {})
    if resource["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
        return [spec["template"]["spec"]]
    if resource["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if resource["kind"] == "Pod":
        return [spec]
    return []


def compiled_executors() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(pipeline file:executor, its container spec, its kubernetes platform config) of every step."""
    for path in compiled_pipelines():
        spec, platform = [d for d in yaml.safe_load_all(path.read_text()) if d]
        platform_executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        for name, executor in spec["deploymentSpec"]["executors"].items():
            yield f"{path.name}:{name}", executor["container"], platform_executors.get(name, {})
