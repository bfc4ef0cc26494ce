"""`python -m pipelines.compile --output-dir DIR --expect-image REF` compiles against the image CI built
(STOCKPREDICTOR_IMAGE), while the committed YAML keeps naming the release image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipelines.compile import executor_images

from tests.support.wheel import REPO

COMMIT_IMAGE = "registry.example.com/team/stockpredictor:0123456789abcdef0123456789abcdef01234567"


def compile_with(image: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "STOCKPREDICTOR_IMAGE"}
    if image:
        env["STOCKPREDICTOR_IMAGE"] = image
    return subprocess.run(
        [sys.executable, "-m", "pipelines.compile", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_compiles_against_the_image_in_the_environment(tmp_path: Path) -> None:
    result = compile_with(COMMIT_IMAGE, "--output-dir", str(tmp_path), "--expect-image", COMMIT_IMAGE)
    assert result.returncode == 0, result.stderr
    for name in ("training", "daily"):
        assert executor_images(tmp_path / f"{name}.yaml") == {COMMIT_IMAGE}
        assert executor_images(REPO / "pipelines" / f"{name}.yaml") != {COMMIT_IMAGE}


def test_expect_image_fails_when_the_environment_names_another(tmp_path: Path) -> None:
    result = compile_with(None, "--output-dir", str(tmp_path), "--expect-image", COMMIT_IMAGE)
    assert result.returncode == 1
    assert f"not {COMMIT_IMAGE}" in result.stderr


def test_the_committed_yaml_is_never_checked_or_written_with_a_commit_image() -> None:
    result = compile_with(COMMIT_IMAGE, "--check")
    assert result.returncode == 2
    assert "STOCKPREDICTOR_IMAGE" in result.stderr
