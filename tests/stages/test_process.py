"""process on the sample data, on real SQLite and PostgreSQL: all or nothing, missing inputs named."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import Engine, Table, func, select

from stockpredictor.db.schema import dataset_arrays, processed_feature_data, scaled_feature_sets
from stockpredictor.errors import DatasetNotFoundError, MissingDataError
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale
from tests.conftest import REPO
from tests.support.overrides import TWO_TICKERS, repo_params

AS_OF = date(2006, 6, 30)
PARAMS = repo_params(*TWO_TICKERS)


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# A child that runs `process` and stops when its transaction is about to commit, with every row and
# array of the dataset written, so that the test can SIGKILL it at a point it knows.
_PROCESS_AND_PAUSE = """
import sys, time
import os
import subprocess
import sys
from datetime import date
from sqlalchemy import event
from stockpredictor.db.engine import make_engine
from stockpredictor.stages.process import process
from tests.support.overrides import repo_params

engine = make_engine(sys.argv[1])
written = False

@event.listens_for(engine, "after_cursor_execute")
def _written(conn, cursor, statement, parameters, context, executemany):
    global written
    if statement.lstrip().upper().startswith("INSERT") and "processed_feature_data" in statement:
        written = True

@event.listens_for(engine, "commit")
def _pause(conn):
    if written:
        print("about to commit", flush=True)
        time.sleep(600)

process(engine, repo_params(*sys.argv[3:]), date.fromisoformat(sys.argv[2]))
"""


def test_a_process_killed_before_its_commit_leaves_no_dataset(engine: Engine, db_url: str) -> None:
    ingest(engine, PARAMS, AS_OF)
    child = subprocess.Popen(
        [sys.executable, "-c", _PROCESS_AND_PAUSE, db_url, AS_OF.isoformat(), *TWO_TICKERS],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "about to commit\n", "the child ended before its commit"
    child.kill()  # SIGKILL: no rollback, no cleanup in the child
    child.wait()
    assert count(engine, processed_feature_data) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(dataset_arrays)).scalar_one() == 0
    assert process(engine, PARAMS, AS_OF).dataset_run_id  # nothing is left locked either


def test_missing_inputs_are_named_and_nothing_is_written(engine: Engine) -> None:
    with pytest.raises(MissingDataError, match="AAPL, IBM"):
        process(engine, PARAMS, AS_OF)
    with pytest.raises(DatasetNotFoundError, match="'no-such-run'"):
        scale(engine, PARAMS, "no-such-run")
    ingest(engine, PARAMS, AS_OF)
    run_id = process(engine, PARAMS, AS_OF).dataset_run_id
    too_long = repo_params(*TWO_TICKERS, "sequences.sequence_length=1000")
    with pytest.raises(MissingDataError, match="too little history"):
        scale(engine, too_long, run_id)
    assert count(engine, scaled_feature_sets) == 0
