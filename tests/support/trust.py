"""The trust root in tests: register a logged model as the stages do (its manifest in the project's
store, then the version), and rewrite a manifest where an attacker with write access to a database can."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, text, update

from stockpredictor import registry_models
from stockpredictor.db.engine import make_engine, migrate, normalise_url
from stockpredictor.db.model_manifests import record_manifest
from stockpredictor.db.schema import model_manifests
from stockpredictor.registry_manifest import MANIFEST_PARAM, Manifest


def trust_store(folder: Path) -> Engine:
    """A migrated SQLite store in `folder` (for tests that register models without a dataset)."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{folder / 'store.db'}")
    migrate(engine)
    return engine


def register_trusted(
    engine: Engine, logged: registry_models.LoggedModelRef, name: str, tags: dict[str, str] | None = None
) -> int:
    """Record `logged`'s manifest in the store (as `train` does) and register it as a version of `name`."""
    with engine.begin() as conn:
        record_manifest(conn, logged.mlflow_run_id, logged.manifest)
    return registry_models.register_version(logged, name, tags=tags)


def rewrite_mlflow_manifest(backend_store_uri: str, mlflow_run_id: str, manifest: Manifest) -> None:
    """Replace the run's manifest parameter in MLflow's own database (SQLite or PostgreSQL), which MLflow's
    API refuses but anyone with write access to that database can do."""
    engine = create_engine(normalise_url(backend_store_uri))
    try:
        with engine.begin() as conn:
            changed = conn.execute(
                text("UPDATE params SET value = :value WHERE run_uuid = :run AND key = :key"),
                {"value": manifest.to_json(), "run": mlflow_run_id, "key": MANIFEST_PARAM},
            ).rowcount
    finally:
        engine.dispose()
    assert changed == 1, f"run {mlflow_run_id} has no {MANIFEST_PARAM} parameter"


def rewrite_store_manifest(engine: Engine, mlflow_run_id: str, manifest: Manifest) -> None:
    """Replace the run's record in the project's store (an attacker with write access to it)."""
    with engine.begin() as conn:
        changed = conn.execute(
            update(model_manifests)
            .where(model_manifests.c.mlflow_run_id == mlflow_run_id)
            .values(
                manifest_sha256=manifest.digest,
                files=[[f.path, f.size, f.sha256] for f in manifest.files],
            )
        ).rowcount
    assert changed == 1, f"the store has no manifest of run {mlflow_run_id}"
