"""The trust root of registered models (`model_manifests`): the manifest each training recorded.

A stage that logs a model records its manifest here in the transaction that holds the rest of what
it stores; `registry_models.load_model` loads a version only when MLflow's manifest and the downloaded
files match this record (see docs/security.md, "Trust root").
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from stockpredictor.db.schema import model_manifests
from stockpredictor.registry_manifest import Manifest, ManifestEntry


def record_manifest(conn: Connection, mlflow_run_id: str, manifest: Manifest) -> None:
    """Record the manifest of the model logged by MLflow run `mlflow_run_id` (one model per run)."""
    conn.execute(
        insert(model_manifests).values(
            mlflow_run_id=mlflow_run_id,
            model_id=manifest.model_id,
            manifest_sha256=manifest.digest,
            files=[[f.path, f.size, f.sha256] for f in manifest.files],
            recorded_at=datetime.now(UTC),
        )
    )


def recorded_manifest(conn: Connection, mlflow_run_id: str) -> tuple[Manifest, str] | None:
    """The manifest recorded for `mlflow_run_id` and the digest recorded with it (None: no record)."""
    row = conn.execute(
        select(model_manifests).where(model_manifests.c.mlflow_run_id == mlflow_run_id)
    ).one_or_none()
    if row is None:
        return None
    files = tuple(ManifestEntry(str(p), int(s), str(h)) for p, s, h in row.files)
    return Manifest(row.model_id, files), row.manifest_sha256
