"""The one lock: this virtualenv holds exactly requirements.lock, and the offline check names the
package whose pin in pyproject.toml moved without `make lock`."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCK_SCRIPT = REPO / "scripts" / "lock.py"


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.removesuffix(" \\").split("==")
            pins[str(canonicalize_name(name))] = version
    return pins


def test_the_virtualenv_holds_exactly_the_lock() -> None:
    installed = {str(canonicalize_name(d.metadata["Name"])): d.version for d in metadata.distributions()}
    assert installed.pop("stockpredictor") == "0.1.0"
    installed.pop("pip", None)  # the venv's own installer, not part of what runs
    assert installed == _locked()


def test_the_runtime_lock_is_a_part_of_the_full_lock_with_cpu_torch() -> None:
    full = (REPO / "requirements.lock").read_text()
    runtime = (REPO / "images" / "requirements-runtime.lock").read_text()
    pins = [line for line in runtime.splitlines() if not line.startswith("#")]
    assert "torch==2.13.0+cpu \\" in pins
    assert all(line in full.splitlines() for line in pins)
    assert not any(line.startswith(("pytest==", "ruff==", "mypy==")) for line in pins), "dev tools stay out"


def _check(pyproject: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LOCK_SCRIPT), "--check", "--pyproject", str(pyproject)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_check_passes_on_the_committed_pair() -> None:
    result = _check(REPO / "pyproject.toml")
    assert (result.returncode, result.stderr) == (0, "")


def test_a_pin_bumped_without_make_lock_fails_the_check_naming_the_package(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    text = (REPO / "pyproject.toml").read_text()
    assert '"optuna==5.0.0"' in text
    pyproject.write_text(text.replace('"optuna==5.0.0"', '"optuna==5.0.1"'))
    result = _check(pyproject)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "requirements.lock is stale for optuna: pyproject.toml has `optuna==5.0.1`, "
        "the lock was made from `optuna==5.0.0`; run `make lock`"
    ]


def test_a_dependency_added_without_make_lock_fails_the_check_naming_it(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    text = (REPO / "pyproject.toml").read_text()
    pyproject.write_text(text.replace('"pyyaml>=6,<7",', '"pyyaml>=6,<7",\n    "lightgbm>=4",'))
    result = _check(pyproject)
    assert result.returncode == 1
    assert (
        "stale for lightgbm: pyproject.toml has `lightgbm>=4`, the lock was made from absent" in result.stderr
    )
