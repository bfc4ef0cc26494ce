"""What the project image holds, built without a container engine: a fresh virtualenv outside the
repository with the dependencies pinned by images/constraints.txt (the image's dependency layer) and
the project's wheel installed last with `--no-deps`, then `pip check` (the image's last layer).

The dependency layer is cached by a hash of the constraints and the interpreter, the project layer by
the wheel's source hash, so a rerun takes seconds. The cache lives where an unprivileged user can
read it (not under a 0700 home), because the executors run as `nobody` when the tests run as root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.wheel import REPO, build_wheel, source_hash

CONSTRAINTS = REPO / "images" / "constraints.txt"
CACHE = Path(os.environ.get("STOCKPREDICTOR_IMAGE_CACHE", "/var/tmp/stockpredictor-image-contract"))


def _pip(python: Path, *args: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


def dependency_layer_key() -> str:
    """The dependency layer's cache key: the constraints and the interpreter version."""
    digest = hashlib.sha256(CONSTRAINTS.read_bytes() + sys.version.encode())
    return digest.hexdigest()[:16]


def image_venv(cache: Path = CACHE) -> Path:
    """A virtualenv laid out as the image's /opt/venv, holding the current sources; returns its python."""
    venv = cache / f"venv-{dependency_layer_key()}"
    python = venv / "bin" / "python"
    if not (venv / ".dependencies").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        cache.mkdir(parents=True, exist_ok=True)
        os.chmod(cache, 0o755)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        _pip(python, "install", "--quiet", "-r", str(CONSTRAINTS))
        (venv / ".dependencies").write_text(CONSTRAINTS.read_text())
    sources = source_hash()
    marker = venv / ".project"
    if not marker.is_file() or marker.read_text() != sources:
        wheel = build_wheel(cache / "wheels")
        _pip(python, "install", "--quiet", "--no-deps", "--force-reinstall", "--no-index", str(wheel))
        _pip(python, "check")
        marker.write_text(sources)
    return python
