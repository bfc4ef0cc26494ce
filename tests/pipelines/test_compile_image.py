"""`python -m pipelines.compile --output-dir DIR --expect-image REF` compiles against the image CI built
(STOCKPREDICTOR_IMAGE), while the committed YAML keeps naming the release image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from components.image import PULL_SECRET_ENV
from pipelines.compile import executor_images

from tests.cluster.backend_protos import strict_parse
from tests.cluster.test_backend_contract import site_for
from tests.support.wheel import REPO

COMMIT_IMAGE = "registry.example.com/team/stockpredictor:0123456789abcdef0123456789abcdef01234567"


def compile_with(image: str | None, *args: str, pull_secret: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"STOCKPREDICTOR_IMAGE", PULL_SECRET_ENV}}
    if image:
        env["STOCKPREDICTOR_IMAGE"] = image
    if pull_secret:
        env[PULL_SECRET_ENV] = pull_secret
    return subprocess.run(
        [sys.executable, "-m", "pipelines.compile", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def against_commit_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both pipelines compiled as CI compiles them: against COMMIT_IMAGE, with the pull Secret "ghcr-pull"."""
    folder = tmp_path_factory.mktemp("compiled")
    result = compile_with(
        COMMIT_IMAGE, "--output-dir", str(folder), "--expect-image", COMMIT_IMAGE, pull_secret="ghcr-pull"
    )
    assert result.returncode == 0, result.stderr
    return folder


def test_compiles_against_the_image_in_the_environment(against_commit_image: Path) -> None:
    for name in ("training", "daily"):
        assert executor_images(against_commit_image / f"{name}.yaml") == {COMMIT_IMAGE}
        assert executor_images(REPO / "pipelines" / f"{name}.yaml") != {COMMIT_IMAGE}


def test_expect_image_fails_when_the_environment_names_another(tmp_path: Path) -> None:
    result = compile_with(None, "--output-dir", str(tmp_path), "--expect-image", COMMIT_IMAGE)
    assert result.returncode == 1
    assert f"not {COMMIT_IMAGE}" in result.stderr


def test_the_committed_yaml_is_never_checked_or_written_with_a_commit_image() -> None:
    result = compile_with(COMMIT_IMAGE, "--check")
    assert result.returncode == 2
    assert "STOCKPREDICTOR_IMAGE" in result.stderr


def pull_secrets_by_executor(path: Path) -> dict[str, list[str]]:
    """Each executor's imagePullSecret names in the compiled platform spec (absent: empty)."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    (spec,) = [d for d in docs if "components" in d]
    executors = spec["deploymentSpec"]["executors"]
    platform: dict[str, Any] = next((d for d in docs if "platforms" in d), {"platforms": {"kubernetes": {}}})
    configs = platform["platforms"]["kubernetes"].get("deploymentSpec", {}).get("executors", {})
    return {
        name: [secret["secretName"] for secret in configs.get(name, {}).get("imagePullSecret", [])]
        for name in executors
    }


def test_a_pull_secret_reaches_every_step_of_both_pipelines(against_commit_image: Path) -> None:
    for name in ("training", "daily"):
        secrets = pull_secrets_by_executor(against_commit_image / f"{name}.yaml")
        assert secrets and all(value == ["ghcr-pull"] for value in secrets.values()), secrets
        committed = pull_secrets_by_executor(REPO / "pipelines" / f"{name}.yaml")
        assert all(value == [] for value in committed.values())
    compiled = [against_commit_image / "training.yaml", against_commit_image / "daily.yaml"]
    parsed = strict_parse(site_for("2.17.0"), compiled)
    errors = {e: x for p in parsed["pipelines"].values() for e, x in p["executors"].items() if x}
    assert errors == {}, "the deployed backend's protos refuse the pull Secret"


def test_the_committed_yaml_is_never_checked_with_a_pull_secret() -> None:
    result = compile_with(None, "--check", pull_secret="ghcr-pull")
    assert result.returncode == 2
    assert f"{PULL_SECRET_ENV}=ghcr-pull is set" in result.stderr
