"""No secret value is committed with the cluster assets: credentials only reach the cluster through
the git-ignored secrets.env, and its committed example holds obvious placeholders only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.cluster.assets import MANIFESTS, PLACEHOLDER, REPO, SECRET_KEYS, run

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
PLACEHOLDER_RE = re.compile(rf"""^(?:{PLACEHOLDER}|\$\(\w+\)|\$\{{?\w+\}}?|<[^<>]+>|\*+|\.\.\.|)$""")
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
    for key in ("POSTGRES_PASSWORD", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        assert values[key] == PLACEHOLDER, key
    # the URLs repeat POSTGRES_USER/PASSWORD: keep the example self-consistent
    for key, database in (
        ("STOCKPREDICTOR_DATABASE_URL", values["POSTGRES_DB"]),
        ("MLFLOW_BACKEND_STORE_URI", "mlflow"),
    ):
        url = URL_CREDENTIALS.search(values[key])
        assert url, f"{key} must carry the user and password"
        assert (url.group("user"), url.group("secret")) == (
            values["POSTGRES_USER"],
            values["POSTGRES_PASSWORD"],
        )
        assert values[key].startswith("postgresql+psycopg2://")
        assert values[key].endswith(f"@stockpredictor-postgres:5432/{database}"), key
    assert values["MLFLOW_TRACKING_URI"] == "http://stockpredictor-mlflow:5000"
