"""Scoring models on raw data: inputs rebuilt from raw prices equal the training rows; common cells only."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import pytest
from sqlalchemy import select

from stockpredictor import registry_models
from stockpredictor.calendar import next_trading_day
from stockpredictor.config import Settings
from stockpredictor.db.datasets import as_numpy_dates, load_processed, load_scaled
from stockpredictor.db.schema import latest_predictions
from stockpredictor.stages.evaluation import PricePredictions, model_input_panel, on_common_cells
from stockpredictor.stages.model_forecasts import recent_forecasts
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale
from tests.support.sample_dataset import (
    BOTH_STORES,
    DATASET_AS_OF,
    LATEST,
    SampleStore,
    delete_ticker_days,
    tiny_params,
    train_with,
)

# IBM misses a training day, a test day and a day of the recent (gating) window.
GAPS = [date(2003, 3, 14), date(2006, 6, 15), date(2007, 6, 20)]


def test_both_models_are_compared_on_the_cells_they_share() -> None:
    def predictions(tickers: tuple[str, ...], days: list[date]) -> PricePredictions:
        values = np.arange(len(days) * len(tickers), dtype=float).reshape(len(days), len(tickers)) + 1
        return PricePredictions(
            tickers, days, days, values, values, values, values, np.ones(values.shape, bool)
        )

    days = [date(2007, 6, d) for d in (25, 26, 27, 28)]
    first, second = on_common_cells(predictions(("A", "B", "C"), days), predictions(("C", "A"), days[1:]))
    assert (
        first.tickers == second.tickers == ("A", "C")
        and first.target_dates == second.target_dates == days[1:]
    )
    np.testing.assert_array_equal(first.actual, [[4, 6], [7, 9], [10, 12]])
    np.testing.assert_array_equal(second.actual, [[2, 1], [4, 3], [6, 5]])


def test_a_cell_one_model_cannot_score_is_left_out_for_both() -> None:
    days = [date(2007, 6, d) for d in (26, 27)]
    values = np.array([[10.0, 20.0], [11.0, 21.0]])
    scored = np.array([[True, True], [True, False]])
    first = PricePredictions(("A", "B"), days, days, values, values, values, values, scored)
    second = PricePredictions(("A", "B"), days, days, values, values, values, values, np.ones((2, 2), bool))
    first, second = on_common_cells(first, second)
    assert (second.scored == scored).all() and np.isnan(second.actual[1, 1])
    assert [c.ravel().tolist() for c in second.cells()] == [[10.0, 20.0, 11.0]] * 4


@pytest.mark.parametrize("sample_store", BOTH_STORES, indirect=True)
def test_model_inputs_from_raw_prices_match_the_training_rows(sample_store: SampleStore) -> None:
    with sample_store.engine.connect() as conn:
        rebuilt = model_input_panel(conn, sample_store.run_id, tiny_params(), DATASET_AS_OF, n_days=3)
        stored = load_scaled(conn, sample_store.run_id)
    assert rebuilt.scaled.shape == (10 - 1 + 3, 4, 11) and rebuilt.dates[-1] == DATASET_AS_OF
    np.testing.assert_allclose(rebuilt.scaled, stored.x_scaled[-12:], atol=1e-5)


@pytest.mark.slow
def test_a_missing_ticker_day_never_makes_a_two_session_row(
    sample_store: SampleStore, settings: Settings
) -> None:
    """Training samples, stored test predictions and the gate's scored cells stay off the gaps."""
    delete_ticker_days(sample_store.engine, "IBM", GAPS)
    params = tiny_params()
    run_id = process(sample_store.engine, params, DATASET_AS_OF).dataset_run_id
    scale(sample_store.engine, params, run_id)
    with sample_store.engine.connect() as conn:
        panel = load_processed(conn, run_id).panel
        dataset = load_scaled(conn, run_id)
    dates = as_numpy_dates(panel.dates)
    assert all(next_trading_day(a) == b for a, b in itertools.pairwise(dates))
    ibm, length = panel.tickers.index("IBM"), dataset.sequence_length
    for part in ("train", "validation", "test"):
        windows = dataset.windows(part)
        _, y = windows.batch(np.arange(len(windows)))
        for end in windows.end_days[np.isfinite(y[:, ibm])]:
            assert not set(dates[end - length + 1 : end + 2]) & set(GAPS), (part, dates[end])
    assert sum(len(dataset.windows(p)) for p in ("train", "validation", "test")) == len(dates) - length

    trained = train_with(sample_store.engine, params, settings, run_id)
    with sample_store.engine.connect() as conn:
        rows = conn.execute(select(latest_predictions).where(latest_predictions.c.kind == "test")).all()
        model, _ = registry_models.load_model(
            conn, f"models:/{params.train.model_name}/{trained.model_version}"
        )
        gate = recent_forecasts(conn, model, run_id, params, LATEST, params.promotion.window_days)
    assert rows and all(r.target_date == next_trading_day(r.as_of_date) for r in rows)
    ibm_days = {d for r in rows if r.ticker == "IBM" for d in (r.as_of_date, r.target_date)}
    assert GAPS[1] not in ibm_days and GAPS[1] in {r.target_date for r in rows}  # others scored there
    assert all(b == next_trading_day(a) for a, b in zip(gate.as_of_dates, gate.target_dates, strict=True))
    scored_ibm = {d for i, d in enumerate(gate.target_dates) if gate.scored[i, gate.tickers.index("IBM")]}
    gap_and_next = {GAPS[2], next_trading_day(GAPS[2])}
    assert not scored_ibm & gap_and_next and gap_and_next <= set(gate.target_dates)
    assert gate.scored[gate.target_dates.index(GAPS[2])].sum() == 3
