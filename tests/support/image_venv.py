"""What the project image holds, built without a container engine: a fresh virtualenv outside the
repository with exactly images/requirements-runtime.lock (the image's dependency layer, hashes checked) and
the project's wheel installed last with `--no-deps`, then `pip check` (the image's last layer).

The dependency layer is cached by a hash of the lock and the interpreter, the project layer by
the wheel's source hash, so a rerun takes seconds. The cache lives where an unprivileged user can
read it (not under a 0700 home), because the executors run as `nobody` when the tests run as root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from tests.support.wheel import REPO, build_wheel, source_hash

RUNTIME_LOCK = REPO / "images" / "requirements-runtime.lock"
CACHE = Path(os.environ.get("STOCKPREDICTOR_IMAGE_CACHE", "/var/tmp/stockpredictor-image-contract"))


def _pip(python: Path, env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


def _usable_by_anyone(path: Path) -> bool:
    """Whether every user may run `path` (each folder on the way and the file are world-executable)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def base_interpreter(cache: Path = CACHE) -> tuple[Path, dict[str, str]]:
    """This Python as an unprivileged user can run it, and the environment it needs.

    An interpreter under a 0700 home (pyenv in /root) is copied once into the cache: its binary,
    shared library and standard library (no site-packages, tests or bytecode), found through
    LD_LIBRARY_PATH because the binary's RUNPATH still names the original folder.
    """
    real = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    if _usable_by_anyone(real):
        return real, {}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    prefix = real.parent.parent
    copy = cache / f"{version}-{hashlib.sha256(str(real).encode()).hexdigest()[:8]}"
    if not (copy / ".complete").is_file():
        shutil.rmtree(copy, ignore_errors=True)
        (copy / "bin").mkdir(parents=True)
        shutil.copy2(real, copy / "bin" / version)
        shutil.copytree(
            prefix / "lib" / version,
            copy / "lib" / version,
            ignore=shutil.ignore_patterns("site-packages", "test", "__pycache__"),
        )
        for library in (prefix / "lib").glob("libpython*.so*"):
            shutil.copy2(library, copy / "lib" / library.name, follow_symlinks=True)
        (copy / "lib" / version / "site-packages").mkdir()
        subprocess.run(["chmod", "-R", "a+rX", str(cache)], check=True)
        (copy / ".complete").write_text(str(real))
    return copy / "bin" / version, {"LD_LIBRARY_PATH": str(copy / "lib")}


def dependency_layer_key(interpreter: Path) -> str:
    """The dependency layer's cache key: the runtime lock and the interpreter."""
    digest = hashlib.sha256(RUNTIME_LOCK.read_bytes() + str(interpreter).encode())
    return digest.hexdigest()[:16]


def image_venv(cache: Path = CACHE) -> tuple[Path, dict[str, str]]:
    """A virtualenv laid out as the image's /opt/venv, holding the current sources.

    Returns its python and the environment its interpreter needs (see `base_interpreter`).
    """
    cache.mkdir(parents=True, exist_ok=True)
    os.chmod(cache, 0o755)
    interpreter, env = base_interpreter(cache)
    venv = cache / f"venv-{dependency_layer_key(interpreter)}"
    python = venv / "bin" / "python"
    if not (venv / ".dependencies").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run(
            [str(interpreter), "-m", "venv", str(venv)], env={**os.environ, **env}, check=True, timeout=300
        )
        _pip(python, env, "install", "--quiet", "--require-hashes", "--no-deps", "-r", str(RUNTIME_LOCK))
        (venv / ".dependencies").write_text(RUNTIME_LOCK.read_text())
    sources = source_hash()
    marker = venv / ".project"
    if not marker.is_file() or marker.read_text() != sources:
        wheel = build_wheel(cache / "wheels")
        _pip(python, env, "install", "--quiet", "--no-deps", "--force-reinstall", "--no-index", str(wheel))
        _pip(python, env, "check")
        marker.write_text(sources)
    return python, env
