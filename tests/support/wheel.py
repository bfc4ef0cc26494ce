"""The project as users get it: a built wheel installed in a fresh virtualenv, away from the checkout.

`build_wheel` builds the distribution from a copy of its sources (so the checkout gets no `build/` or
egg-info debris) and caches the wheel by a hash of those sources. `install_wheel` makes a fresh
virtualenv whose only copy of `stockpredictor`, `components` and `pipelines` is the wheel's: the
dependencies come from the project's own virtualenv (a `.pth` line naming its site-packages, whose
editable-install hook is therefore not run), and nothing points at the checkout.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: What the distribution is built from (the same allow-list as the image's build context).
SOURCES = ("pyproject.toml", "README.md", "src", "components", "pipelines")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")


def source_files(repo: Path = REPO) -> list[Path]:
    """Every file the wheel is built from, sorted (caches and egg-info left out)."""
    files: list[Path] = []
    for name in SOURCES:
        path = repo / name
        if path.is_file():
            files.append(path)
            continue
        files.extend(
            p
            for p in path.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not any(".egg-info" in s for s in p.parts)
        )
    return sorted(files)


def source_hash(repo: Path = REPO) -> str:
    """A hash of the sources' paths and contents: the wheel's cache key."""
    digest = hashlib.sha256()
    for path in source_files(repo):
        digest.update(path.relative_to(repo).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_wheel(cache_dir: Path, repo: Path = REPO) -> Path:
    """The project's wheel, built once per source hash into `cache_dir/<hash>/`.

    Built in a folder of its own, then renamed into place: processes building at once (pytest-xdist's
    workers) each get a complete wheel, and the first rename wins.
    """
    out = cache_dir / source_hash(repo)
    built = sorted(out.glob("*.whl"))
    if built:
        return built[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{out.name}.", dir=cache_dir))
    staging = work / "src"
    try:
        for name in SOURCES:
            source = repo / name
            if source.is_dir():
                shutil.copytree(source, staging / name, ignore=_IGNORED)
            else:
                staging.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, staging / name)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"),
                *("--wheel-dir", str(work / "wheel"), str(staging)),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        with contextlib.suppress(OSError):  # another process renamed its build into place first
            (work / "wheel").rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    [wheel] = out.glob("*.whl")
    return wheel


def install_wheel(wheel: Path, venv: Path) -> Path:
    """A fresh virtualenv at `venv` with `wheel` installed (no dependencies); returns its python.

    The dependencies are those of the running interpreter's virtualenv, reached through a `.pth` line.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "project-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    return python
