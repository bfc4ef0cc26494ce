"""No secret value is committed with the cluster assets: credentials only reach the cluster through
the git-ignored secrets.env, and its committed example holds obvious placeholders only."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.assets import (
    MANIFESTS,
    PLACEHOLDER,
    REPO,
    SECRET_KEYS,
    build,
    copy_manifests,
    documents,
    pod_specs,
    run,
    walk,
)

SCANNED_DIRS = ("manifests", "images")
SCANNED_FILES = (
    "params.yaml",
    "kind-config.yaml",
    "mk/cluster.mk",
    ".dockerignore",
    "docs/operations.md",
    "docs/security.md",
)

# A value that is obviously not a credential: the example's placeholder, a variable reference
# ($(VAR) expanded by the kubelet, $VAR/${VAR} by a shell), a <placeholder>, or nothing.
PLACEHOLDER_RE = re.compile(
    rf"""^(?:{PLACEHOLDER}(?:-[\w-]+)?|\$\(\w+\)|\$\{{?\w+\}}?|<[^<>]+>|\*+|\.\.\.|)$"""
)
URL_CREDENTIALS = re.compile(r"[a-z0-9+.-]+://(?P<user>[^\s:/@'\"]+):(?P<secret>[^\s@'\"]*)@", re.IGNORECASE)
KEY_VALUE = re.compile(
    r"""(?P<key>[\w.-]*(?:passw(?:or)?d|secret|token|api[_-]?key|private[_-]?key)[\w.-]*)"""
    r"""["']?[ \t]*[:=][ \t]*["']?(?P<secret>[^\s"'#,;()\[\]]*)""",
    re.IGNORECASE,
)
SQL_PASSWORD = re.compile(r"\bPASSWORD\s+'(?P<secret>[^']*)'", re.IGNORECASE)


def scanned_files() -> list[Path]:
    """The files of the scanned paths that git would commit (git-ignored files, e.g. a real
    secrets.env, are the developer's own and never committed)."""
    listed = run(
        "git",
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
        "-z",
        "--",
        *SCANNED_DIRS,
        *SCANNED_FILES,
        cwd=REPO,
    )
    if listed.returncode == 0:
        paths = [REPO / p for p in listed.stdout.split("\0") if p]
    else:  # not a git work tree: walk, leaving out the ignored secrets.env files
        paths = [p for d in SCANNED_DIRS for p in (REPO / d).rglob("*") if p.name != "secrets.env"]
        paths += [REPO / f for f in SCANNED_FILES]
    return sorted(p for p in paths if p.is_file())


def leaks(text: str) -> list[str]:
    found = []
    for regex in (URL_CREDENTIALS, KEY_VALUE, SQL_PASSWORD):
        for match in regex.finditer(text):
            secret = match.group("secret")
            if regex is KEY_VALUE and (
                secret.lower() in {"valuefrom", "secretkeyref", "true", "false", "null"}
                or re.fullmatch(r"[A-Z][A-Z0-9_]*", secret)  # names another variable or key
                or secret.startswith(("http://", "https://"))  # a link, not a value
            ):
                continue
            if not PLACEHOLDER_RE.match(secret):
                found.append(match.group(0))
    return found


def test_the_scanner_catches_literal_credentials() -> None:
    for sample in (
        "POSTGRES_PASSWORD=hunter2",
        "password: s3cr3t",
        'db_password = "abc"',
        "postgresql+psycopg2://stockpredictor:hunter2@db:5432/x",
        "ALTER USER stockpredictor WITH PASSWORD 'hunter2';",
        "MLFLOW_TRACKING_TOKEN=abc123",
    ):
        assert leaks(sample), sample
    for sample in (
        "POSTGRES_PASSWORD=change-me",
        "postgresql+psycopg2://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@stockpredictor-postgres:5432/mlflow",
        "postgresql+psycopg2://stockpredictor:<new-password>@stockpredictor-postgres:5432/stockpredictor",
        "ALTER USER stockpredictor WITH PASSWORD '<new-password>';",
        "key: POSTGRES_PASSWORD",
        "- name: PGPASSWORD",
    ):
        assert not leaks(sample), sample


def test_no_password_like_literal_is_committed() -> None:
    files = scanned_files()
    assert any(p.name == "secrets.env.example" for p in files)
    problems = {str(p.relative_to(REPO)): leaks(p.read_text()) for p in files}
    assert not {k: v for k, v in problems.items() if v}


def test_manifests_commit_no_secret_object_with_data() -> None:
    for path in MANIFESTS.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                assert not doc.get("data") and not doc.get("stringData"), path


@pytest.mark.parametrize("example", sorted(MANIFESTS.glob("overlays/*/secrets.env.example")), ids=str)
def test_secrets_example_holds_placeholders_only(example: Path) -> None:
    values = dict(
        line.split("=", 1)
        for line in example.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    assert set(values) == SECRET_KEYS
    for key in SECRET_KEYS:
        if key.endswith(("_PASSWORD", "_SECRET_KEY")):
            assert PLACEHOLDER_RE.match(values[key]) and values[key].startswith(PLACEHOLDER), key
    # each URL is the login of one role on its own database; keep the example self-consistent
    for url_key, password_key, database in (
        ("STOCKPREDICTOR_DATABASE_URL", "STOCKPREDICTOR_DB_PASSWORD", "stockpredictor"),
        ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_DB_PASSWORD", "mlflow"),
    ):
        url = URL_CREDENTIALS.search(values[url_key])
        assert url, f"{url_key} must carry the user and password"
        assert (url.group("user"), url.group("secret")) == (database, values[password_key]), url_key
        assert values[url_key] == (
            f"postgresql+psycopg2://{database}:{values[password_key]}@stockpredictor-postgres:5432/{database}"
        ), url_key
    assert values["POSTGRES_USER"] not in {"stockpredictor", "mlflow"}, "the superuser is a role of its own"
    assert values["MLFLOW_TRACKING_URI"] == "http://stockpredictor-mlflow:5000"


def random_secrets() -> dict[str, str]:
    """A secrets.env as an operator makes it: every credential a distinct random token."""
    values = {key: secrets.token_urlsafe(18) for key in SECRET_KEYS}
    host = "stockpredictor-postgres:5432"
    values["STOCKPREDICTOR_DATABASE_URL"] = (
        f"postgresql+psycopg2://stockpredictor:{values['STOCKPREDICTOR_DB_PASSWORD']}@{host}/stockpredictor"
    )
    values["MLFLOW_BACKEND_STORE_URI"] = (
        f"postgresql+psycopg2://mlflow:{values['MLFLOW_DB_PASSWORD']}@{host}/mlflow"
    )
    values["MLFLOW_TRACKING_URI"] = "http://stockpredictor-mlflow:5000"
    return values


def command_lines(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(container, text) of every command line a pod spec starts: commands, args, exec probes."""
    lines = []
    for container in spec.get("initContainers", []) + spec["containers"]:
        argv = container.get("command", []) + container.get("args", [])
        probes = [
            container[p]["exec"]["command"]
            for p in container
            if p.endswith("Probe") and "exec" in container[p]
        ]
        for words in [argv, *probes]:
            lines.append((container["name"], "\n".join(words)))
    return lines


def test_no_secret_reaches_a_command_line_a_configmap_or_a_literal_env(tmp_path: Path) -> None:
    manifests = copy_manifests(tmp_path)
    values = random_secrets()
    for overlay in manifests.glob("overlays/*/secrets.env"):
        overlay.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    secret_values = {key: value for key, value in values.items() if key != "MLFLOW_TRACKING_URI"}
    for overlay in sorted(manifests.glob("overlays/*")):
        resources = documents(build(overlay))
        checked = 0
        for resource in resources:
            where = f"{overlay.name}:{resource['kind']}/{resource['metadata']['name']}"
            if resource["kind"] == "ConfigMap":
                for name, data in resource["data"].items():
                    leaked = [k for k, v in secret_values.items() if v in data]
                    assert not leaked, f"{where} {name} holds {leaked}"
            for spec in pod_specs(resource):
                for container, line in command_lines(spec):
                    checked += 1
                    leaked = [k for k, v in secret_values.items() if v in line]
                    assert not leaked, f"{where}/{container}: {leaked} on the command line"
                    # $(VAR) is expanded by the kubelet into the process's argv
                    assert not re.search(r"\$\([^)]*(PASSWORD|SECRET|_URL|_URI)[^)]*\)", line), (
                        f"{where}/{container}"
                    )
                for key, value, owner in walk(spec):
                    if key == "value" and "name" in owner:  # a literal environment variable
                        assert not [k for k, v in secret_values.items() if v in str(value)], where
        assert checked, f"{overlay.name}: no container found"
