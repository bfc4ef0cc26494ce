"""Scoring models on raw data: inputs rebuilt from raw prices equal the training rows; common cells only."""

from __future__ import annotations

from datetime import date

import numpy as np

from stockpredictor.db.datasets import load_scaled
from stockpredictor.stages.evaluation import PricePredictions, model_input_panel, on_common_cells
from tests.support.sample_dataset import DATASET_AS_OF, SampleStore, tiny_params


def test_both_models_are_compared_on_the_cells_they_share() -> None:
    def predictions(tickers: tuple[str, ...], days: list[date]) -> PricePredictions:
        values = np.arange(len(days) * len(tickers), dtype=float).reshape(len(days), len(tickers)) + 1
        return PricePredictions(tickers, days, days, values, values, values, np.ones(values.shape, bool))

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
    first = PricePredictions(("A", "B"), days, days, values, values, values, scored)
    second = PricePredictions(("A", "B"), days, days, values, values, values, np.ones((2, 2), bool))
    first, second = on_common_cells(first, second)
    assert (second.scored == scored).all() and np.isnan(second.actual[1, 1])
    assert [c.ravel().tolist() for c in second.cells()] == [[10.0, 20.0, 11.0]] * 3


def test_model_inputs_from_raw_prices_match_the_training_rows(sample_store: SampleStore) -> None:
    with sample_store.engine.connect() as conn:
        rebuilt = model_input_panel(conn, sample_store.run_id, tiny_params(), DATASET_AS_OF, n_days=3)
        stored = load_scaled(conn, sample_store.run_id)
    assert rebuilt.scaled.shape == (10 - 1 + 3, 4, 11) and rebuilt.dates[-1] == DATASET_AS_OF
    np.testing.assert_allclose(rebuilt.scaled, stored.x_scaled[-12:], atol=1e-5)
