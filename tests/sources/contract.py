"""The frame every PriceSource.fetch returns."""

from __future__ import annotations

import pandas as pd

from stockpredictor.sources import FRAME_COLUMNS, PRICE_COLUMNS


def assert_price_frame(frame: pd.DataFrame) -> None:
    """Columns, dtypes, naive midnight dates, sorted unique dates, no NaN."""
    assert tuple(frame.columns) == FRAME_COLUMNS
    assert frame["date"].dtype == "datetime64[ns]"
    assert (frame["date"] == frame["date"].dt.normalize()).all()
    for column in PRICE_COLUMNS:
        assert frame[column].dtype == "float64", column
    assert frame["date"].is_monotonic_increasing
    assert frame["date"].is_unique
    assert not frame.isna().to_numpy().any()
    assert list(frame.index) == list(range(len(frame)))
