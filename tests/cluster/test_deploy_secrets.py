"""`make deploy`'s scripts/secrets_env.py: a missing secrets.env is written from the committed example
with random passwords (never printed, owner-only, consistent with the database URL); an existing one
is left alone, and refused while it holds a placeholder or lacks a key."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

from tests.cluster.assets import MANIFESTS, PLACEHOLDER, REPO, SECRET_KEYS, make_variable

SCRIPT = REPO / "scripts" / "secrets_env.py"
EXAMPLE = MANIFESTS / "overlays" / "kind" / "secrets.env.example"


def secrets_env(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def values(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def overlay_copy(tmp_path: Path) -> Path:
    shutil.copyfile(EXAMPLE, tmp_path / EXAMPLE.name)
    return tmp_path / "secrets.env"


def test_make_deploy_runs_it_on_the_overlay_secrets() -> None:
    assert make_variable("SECRETS_ENV") == "$(OVERLAY)/secrets.env"
    assert "scripts/secrets_env.py $(SECRETS_ENV)" in (REPO / "mk" / "cluster.mk").read_text()


def test_a_missing_file_gets_random_passwords_that_are_never_printed(tmp_path: Path) -> None:
    path = overlay_copy(tmp_path)
    result = secrets_env(path)
    assert result.returncode == 0, result.stderr
    written = values(path)
    assert set(written) >= SECRET_KEYS
    assert PLACEHOLDER not in path.read_text()
    password = written["POSTGRES_PASSWORD"]
    assert len(password) >= 32 and password not in result.stdout + result.stderr
    project = written["STOCKPREDICTOR_DB_PASSWORD"]
    assert written["STOCKPREDICTOR_DATABASE_URL"] == (
        f"postgresql+psycopg2://stockpredictor:{project}@stockpredictor-postgres:5432/stockpredictor"
    )
    reader = written["STOCKPREDICTOR_READER_DB_PASSWORD"]
    assert written["STOCKPREDICTOR_READER_DATABASE_URL"] == (
        f"postgresql+psycopg2://stockpredictor_reader:{reader}@stockpredictor-postgres:5432/stockpredictor"
    )
    passwords = [written[key] for key in written if key.endswith(("_PASSWORD", "_SECRET_KEY"))]
    assert len(set(passwords)) == len(passwords) == 8  # one random value per placeholder
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (tmp_path / "again").mkdir()
    other = overlay_copy(tmp_path / "again")
    assert secrets_env(other).returncode == 0
    assert values(other)["POSTGRES_PASSWORD"] != password


def test_an_existing_file_is_kept_as_it_is(tmp_path: Path) -> None:
    path = overlay_copy(tmp_path)
    assert secrets_env(path).returncode == 0
    before = path.read_bytes()
    result = secrets_env(path)
    assert result.returncode == 0, result.stderr
    assert path.read_bytes() == before


def test_placeholders_and_missing_keys_are_refused(tmp_path: Path) -> None:
    path = overlay_copy(tmp_path)
    shutil.copyfile(EXAMPLE, path)
    result = secrets_env(path)
    assert result.returncode == 1
    assert "POSTGRES_PASSWORD still holds a placeholder" in result.stderr
    path.write_text("POSTGRES_USER=stockpredictor\n")
    result = secrets_env(path)
    assert result.returncode == 1
    assert "missing POSTGRES_PASSWORD" in result.stderr
