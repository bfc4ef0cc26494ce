"""`check_prices`: each impossible row refused with its reason, the others kept in date order."""

from __future__ import annotations

from datetime import date

import pandas as pd

from stockpredictor.sources.validation import RefusedRow, check_prices


def frame(*rows: tuple[str, float, float, float, float, float]) -> pd.DataFrame:
    columns = ["date", "open", "high", "low", "close", "volume"]
    out = pd.DataFrame(rows, columns=columns)
    out["date"] = pd.to_datetime(out["date"])
    return out


def test_each_rule_names_its_row_and_the_rest_is_kept() -> None:
    checked = check_prices(
        "XYZ",
        frame(
            ("2024-01-02", 10, 11, 9, 10.5, 100),
            ("2024-01-03", 12, 11, 9, 10.5, 100),  # open above the high
            ("2024-01-04", 10, 11, 9, 8.0, 100),  # close below the low
            ("2024-01-05", 10, 11, 9, 10.0, 0),  # no trade: a zero volume is possible
            ("2024-01-08", 10, 11, 9, float("inf"), 100),
            ("2024-01-09", -1, 11, 9, 10.0, 100),
        ),
    )
    assert checked.refused == (
        RefusedRow("XYZ", date(2024, 1, 3), "open outside [low, high]"),
        RefusedRow("XYZ", date(2024, 1, 4), "close outside [low, high]"),
        RefusedRow("XYZ", date(2024, 1, 8), "missing or non-finite value, close outside [low, high]"),
        RefusedRow("XYZ", date(2024, 1, 9), "price <= 0, open outside [low, high]"),
    )
    assert list(checked.kept["date"].dt.day) == [2, 5]


def test_float_noise_of_adjusted_prices_is_no_reason() -> None:
    high = 101.23456789
    checked = check_prices("XYZ", frame(("2024-01-02", 100, high, 99, high * (1 + 1e-12), 5)))
    assert checked.refused == () and len(checked.kept) == 1


def test_rows_out_of_order_are_kept_in_date_order_and_every_copy_of_a_repeated_date_refused() -> None:
    checked = check_prices(
        "XYZ",
        frame(
            ("2024-01-05", 10, 11, 9, 10.0, 1),
            ("2024-01-02", 10, 11, 9, 10.0, 2),
            ("2024-01-04", 10, 11, 9, 10.0, 3),
            ("2024-01-02", 10, 11, 9, 10.5, 4),
            ("2024-01-03", 10, 11, 9, 10.0, 5),
        ),
    )
    assert checked.refused == (
        RefusedRow("XYZ", date(2024, 1, 2), "duplicate date"),
        RefusedRow("XYZ", date(2024, 1, 2), "duplicate date"),
    )
    assert list(checked.kept["date"].dt.day) == [3, 4, 5]
    assert list(checked.kept["volume"]) == [5, 3, 1]
    assert list(checked.kept.index) == [0, 1, 2]
