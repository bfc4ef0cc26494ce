"""ingest / process / scale on the sample data, on real SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from stockpredictor.calendar import trading_days
from stockpredictor.config import Params
from stockpredictor.db.datasets import load_processed, load_scaled
from stockpredictor.db.prices import load_prices
from stockpredictor.db.schema import processed_feature_data, raw_stock_data, scaled_feature_sets
from stockpredictor.errors import DatasetNotFoundError, MissingDataError
from stockpredictor.stages import process as process_module
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale
from tests.conftest import REPO

AS_OF = date(2006, 6, 30)


def small(params: Params, **changes: object) -> Params:
    data = params.data.model_copy(update={"tickers": ("AAPL", "IBM"), "start": date(2005, 1, 1), **changes})
    return params.model_copy(update={"data": data})


def cli(*overrides: str) -> list[str]:
    """The `stockpredictor` command with the repository's params and `--set` overrides."""
    sets = [arg for override in overrides for arg in ("--set", override)]
    return [sys.executable, "-m", "stockpredictor", "--params", str(REPO / "params.yaml"), *sets]


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_ingest_twice_adds_nothing_the_second_time(engine: Engine, params: Params) -> None:
    params = small(params)
    first = ingest(engine, params, AS_OF)
    assert not first.errors and all(n > 300 for n in first.added.values())
    assert ingest(engine, params, AS_OF).added == {"AAPL": 0, "IBM": 0}
    later = ingest(engine, params, date(2006, 7, 7))
    assert later.added == {"AAPL": 4, "IBM": 4}  # only the new days (July 4th is a holiday)


def test_unknown_ticker_fails_alone(engine: Engine, params: Params) -> None:
    result = ingest(engine, small(params, tickers=("AAPL", "ZZZZ")), AS_OF)
    assert "ZZZZ" in result.errors and "ZZZZ" in result.errors["ZZZZ"]
    assert result.added["AAPL"] > 0


def test_sample_prices_are_split_adjusted(engine: Engine, params: Params) -> None:
    ingest(engine, small(params), AS_OF)
    with engine.connect() as conn:
        aapl = load_prices(conn, ["AAPL"], AS_OF)["AAPL"]["close"]
    overnight = aapl.pct_change().loc["2005-02-28"]
    assert abs(overnight) < 0.2  # the 2:1 split on 2005-02-28 is not a 50% drop


def test_concurrent_ingest_neither_duplicates_nor_fails(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "STOCKPREDICTOR_DATABASE_URL": db_url, "STOCKPREDICTOR_DATA_DIR": str(tmp_path)}
    command = [
        *cli("data.tickers=[AAPL,IBM,MSFT]", "data.start=2004-01-01"),
        "ingest",
        "--as-of",
        "2008-12-31",
    ]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    added = [int(out.strip().splitlines()[-1]) for out, _ in outputs]
    from stockpredictor.db.engine import make_engine

    engine = make_engine(db_url)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(raw_stock_data)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(raw_stock_data.c.ticker, raw_stock_data.c.date).distinct().subquery()
            )
        ).scalar_one()
    engine.dispose()
    assert stored == distinct == sum(added) == 3 * len(trading_days(date(2004, 1, 1), date(2008, 12, 31)))


def test_process_then_scale_builds_a_versioned_dataset(engine: Engine, params: Params) -> None:
    params = small(params)
    ingest(engine, params, AS_OF)
    result = process(engine, params, AS_OF)
    assert result.last_date <= AS_OF and result.tickers == ("AAPL", "IBM")
    scaled = scale(engine, params, result.dataset_run_id)
    with engine.connect() as conn:
        processed = load_processed(conn, result.dataset_run_id)
        dataset = load_scaled(conn, result.dataset_run_id)
    assert processed.panel.features.shape == (result.n_days, 2, len(params.features.indicators))
    assert dataset.split == scaled.split
    train = dataset.windows("train")
    x, _ = train.all()
    assert x.min() >= 0.0 and x.max() <= 1.0 + 1e-6  # fitted on training days
    assert scaled.stored_bytes <= 2 * processed.panel.features.nbytes
    again = process(engine, params, AS_OF)
    assert again.dataset_run_id != result.dataset_run_id  # every process run is a new version
    with engine.connect() as conn:
        np.testing.assert_array_equal(
            load_processed(conn, again.dataset_run_id).panel.features, processed.panel.features
        )


def test_crash_inside_process_leaves_no_dataset(
    engine: Engine, params: Params, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = small(params)
    ingest(engine, params, AS_OF)
    real_save = process_module.save_processed

    def save_then_crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        real_save(*args, **kwargs)
        raise RuntimeError("injected crash after the insert, before the commit")

    monkeypatch.setattr(process_module, "save_processed", save_then_crash)
    with pytest.raises(RuntimeError, match="injected crash"):
        process(engine, params, AS_OF)
    assert count(engine, processed_feature_data) == 0


def test_missing_inputs_are_named_and_nothing_is_written(engine: Engine, params: Params) -> None:
    with pytest.raises(MissingDataError, match="AAPL, IBM"):
        process(engine, small(params), AS_OF)
    with pytest.raises(DatasetNotFoundError, match="'no-such-run'"):
        scale(engine, small(params), "no-such-run")
    ingest(engine, small(params), AS_OF)
    run_id = process(engine, small(params), AS_OF).dataset_run_id
    too_long = small(params).model_copy(
        update={"sequences": params.sequences.model_copy(update={"sequence_length": 1000})}
    )
    with pytest.raises(MissingDataError, match="too little history"):
        scale(engine, too_long, run_id)
    assert count(engine, scaled_feature_sets) == 0


def test_cli_chain_prints_key_outputs_last(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "STOCKPREDICTOR_DATA_DIR": str(tmp_path)}
    base = cli("data.tickers=[IBM]", "data.start=2005-01-01")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=300)

    expected_rows = len(trading_days(date(2005, 1, 1), date(2006, 6, 30)))
    assert run("ingest", "--as-of", "2006-06-30").stdout.strip().splitlines()[-1] == str(expected_rows)
    run_id = run("process", "--as-of", "2006-06-30").stdout.strip().splitlines()[-1]
    assert run("scale", "--run-id", run_id).stdout.strip().splitlines()[-1] == run_id
    missing = run("scale", "--run-id", "nope")
    assert missing.returncode != 0 and "'nope'" in missing.stderr and "Traceback" not in missing.stderr
    typo = subprocess.run([*cli("data.tikers=[IBM]"), "ingest"], env=env, capture_output=True, text=True)
    assert typo.returncode == 2 and "data.tikers" in typo.stderr and "params.yaml" in typo.stderr
