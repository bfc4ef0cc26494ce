"""Two `scale` processes on one dataset of the real PostgreSQL, forced to race: both are let in only once
both are waiting to write. The loser finds the winner's scaling and changes nothing; no traceback."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import date

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.db.schema import scaled_feature_sets, scalers
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.process import process
from tests.support.cli import command
from tests.support.overrides import repo_params

#: A small dataset: one ticker, two years, short windows.
SMALL = (
    "data.tickers=[IBM]",
    "data.start=2004-01-01",
    "features.warmup_days=50",
    "sequences.sequence_length=5",
)


def waiting_for_locks(admin: Engine, database: str) -> int:
    with admin.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND wait_event_type = 'Lock'"),
                {"d": database},
            ).scalar_one()
        )


def test_concurrent_scales_of_one_dataset_take_turns(pg_url: str, pg_admin: Engine) -> None:
    params = repo_params(*SMALL)
    engine = make_engine(pg_url)
    migrate(engine)
    ingest(engine, params, date(2006, 1, 3))
    dataset_run_id = process(engine, params, date(2006, 1, 3)).dataset_run_id
    database = make_url(pg_url).database
    env = {**os.environ, "STOCKPREDICTOR_DATABASE_URL": pg_url}
    with engine.connect() as blocker:
        # Writers of the scaled tables wait behind this lock; readers do not.
        blocker.execute(text("LOCK TABLE scaled_feature_sets IN EXCLUSIVE MODE"))
        scales = [
            subprocess.Popen(
                [*command(*SMALL), "scale", "--dataset-run-id", dataset_run_id],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        deadline = time.monotonic() + 120
        while waiting_for_locks(pg_admin, database or "") < 2 and time.monotonic() < deadline:
            assert all(p.poll() is None for p in scales), [p.communicate() for p in scales]
            time.sleep(0.05)
        blocker.rollback()  # both are in: let them race
    outputs = [p.communicate(timeout=120) for p in scales]
    for process_, (stdout, stderr) in zip(scales, outputs, strict=True):
        assert process_.returncode == 0, stderr
        assert "Traceback" not in stderr and stdout.strip().splitlines()[-1] == dataset_run_id
    assert sum("nothing rewritten" in stderr for _, stderr in outputs) == 1
    with engine.connect() as conn:
        for table in (scaled_feature_sets, scalers):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 1
    engine.dispose()
