"""The built wheel, installed away from the checkout, carries `components` and `pipelines`: both pipelines
import and compile there to exactly the committed YAML, which also ships as package data."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.image_venv import CACHE
from tests.support.wheel import REPO, build_wheel, install_wheel

# Run by the wheel's interpreter in isolated mode (-I: no script dir, no cwd, no PYTHON* variables).
PROBE = """
import json, sys
from pathlib import Path

import components, pipelines, stockpredictor
from kfp import compiler
from pipelines import PIPELINES, compiled_path
from stockpredictor.orchestration.catalogue import installed_pipelines

out = Path(sys.argv[1])
for name, pipeline in PIPELINES.items():
    compiler.Compiler().compile(pipeline, package_path=str(out / f"{name}.yaml"))
print(json.dumps({
    "modules": [m.__file__ for m in (components, pipelines, stockpredictor)],
    "catalogue": sorted(installed_pipelines()),
    "shipped": {name: str(compiled_path(name)) for name in PIPELINES},
}))
"""


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtualenv holding the project's wheel (built once per source hash, in the
    image contract's cache: the same wheel its image layer installs)."""
    return install_wheel(build_wheel(CACHE / "wheels"), tmp_path_factory.mktemp("wheel") / "venv")


def test_installed_wheel_compiles_both_pipelines_to_the_committed_yaml(
    wheel_python: Path, tmp_path: Path
) -> None:
    assert REPO not in tmp_path.parents
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [str(wheel_python), "-I", "-c", PROBE, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    venv = wheel_python.parent.parent
    for module in found["modules"]:
        assert Path(module).is_relative_to(venv), f"{module} is not the installed copy"
    assert found["catalogue"] == ["daily", "training"]  # the entry point of the installed distribution
    for name in ("training", "daily"):
        committed = (REPO / "pipelines" / f"{name}.yaml").read_text()
        assert (tmp_path / f"{name}.yaml").read_text() == committed, f"{name}: compiled from the wheel"
        shipped = Path(found["shipped"][name])
        assert shipped.is_relative_to(venv) and shipped.read_text() == committed, f"{name}: package data"


def test_installed_script_runs_outside_the_checkout(wheel_python: Path, tmp_path: Path) -> None:
    script = wheel_python.parent / "stockpredictor"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(script), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "prepare-input" in result.stdout and "pipeline" in result.stdout
