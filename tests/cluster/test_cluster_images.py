"""The Dockerfiles lint clean with hadolint and keep the image rules: pinned base, CPU torch first,
non-root user, no secrets in the build context."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cluster.assets import IMAGES, REPO, run, tool

DOCKERFILES = sorted(IMAGES.glob("*Dockerfile"))


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_both_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {"Dockerfile", "mlflow.Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(dockerfile: Path) -> None:
    # run from the repository root so hadolint picks up .hadolint.yaml if one is ever added
    result = run(tool("hadolint"), str(dockerfile.relative_to(REPO)), cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_is_pinned_and_the_process_runs_as_a_non_root_user(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    for word, args in steps:
        if word == "FROM":
            image = args.split()[0]
            assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", image), f"unpinned base image {image!r}"
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] == "10001:10001", "the last USER must be the non-root uid 10001"
    # no credentials baked in as build args or environment
    for word, args in steps:
        if word in {"ENV", "ARG"}:
            assert not re.search(r"(?i)(password|secret|token|_key)\w*=", args), args


def test_project_image_installs_the_runtime_lock_then_the_source() -> None:
    steps = instructions(IMAGES / "Dockerfile")
    build = steps[: next(i for i, (word, _) in enumerate(steps[1:], 1) if word == "FROM")]
    runs = [i for i, (word, _) in enumerate(build) if word == "RUN"]
    deps = next(i for i in runs if "-r /tmp/requirements.lock" in build[i][1])
    project = next(
        i for i in runs if re.search(r"pip install (--no-cache-dir )?--no-deps \.( |$)", build[i][1])
    )
    sources = [i for i, (word, args) in enumerate(build) if word == "COPY" and ".lock" not in args]
    assert "--require-hashes --no-deps" in build[deps][1], "the image installs exactly the lock"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in build[deps][1]
    assert ("COPY", "images/requirements-runtime.lock /tmp/requirements.lock") in build[:deps]
    assert deps < min(sources) and max(sources) < project, "dependencies must come before the source"
    assert "pip check" in build[project][1]
    text = (IMAGES / "Dockerfile").read_text()
    for needed in (
        "ENV PATH=/opt/venv/bin:$PATH",
        "STOCKPREDICTOR_DATA_DIR=/app/data",
        "WORKDIR /app",
        'CMD ["stockpredictor", "serve", "--host", "0.0.0.0", "--port", "8000"]',
    ):
        assert needed in text, needed
    assert "PYTHONPATH" not in text, "the installed wheel carries components and pipelines"
    torch_pin = re.search(r'"torch==([\d.]+)"', (REPO / "pyproject.toml").read_text())
    runtime_lock = (IMAGES / "requirements-runtime.lock").read_text()
    assert torch_pin and f"torch=={torch_pin.group(1)}+cpu \\" in runtime_lock.splitlines()


def test_mlflow_image_pins_the_server_its_auth_app_and_the_postgres_driver_as_the_lock_does() -> None:
    """The server the tests run (requirements.lock) is the one the image installs, Flask-WTF (the
    basic-auth app) and psycopg2 included."""
    text = (IMAGES / "mlflow.Dockerfile").read_text()
    pins = {
        name.lower().replace("_", "-"): version
        for name, version in re.findall(r"\b([A-Za-z][\w.-]*)==([\w.]+)", text)
    }
    lock = dict(
        re.findall(r"^([a-z0-9][a-z0-9._-]*)==([^\s;]+)", (REPO / "requirements.lock").read_text(), re.M)
    )
    assert {"mlflow", "flask-wtf", "psycopg2-binary"} <= pins.keys(), pins
    assert {name: lock.get(name) for name in pins} == pins
    assert 'CMD ["mlflow", "server"]' in text


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]").replace(r"\[", "[").replace(r"\]", "]")
        if any(re.fullmatch(regex, c) for c in candidates):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "data/stockpredictor.db",
        ".git/config",
        "mlruns/0/meta.yaml",
        "manifests/overlays/kind/secrets.env",
        "tests/conftest.py",
        "src/stockpredictor/__pycache__/cli.cpython-311.pyc",
        "src/stockpredictor.egg-info/PKG-INFO",
        ".env",
    ],
)
def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context(path: str) -> None:
    assert dockerignore_excludes(path)


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "README.md",
        "params.yaml",
        "src/stockpredictor/cli.py",
        "components/image.py",
        "pipelines/training.py",
        "pipelines/daily.yaml",
        "images/requirements-runtime.lock",
    ],
)
def test_dockerignore_lets_in_what_the_image_copies(path: str) -> None:
    assert not dockerignore_excludes(path)
