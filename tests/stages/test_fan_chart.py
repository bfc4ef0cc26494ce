"""The monitor's HTML fan chart and Markdown coverage card, from hand-made served ranges."""

from __future__ import annotations

import re
from datetime import date

from stockpredictor.db.intervals import ServedRange
from stockpredictor.stages.fan_chart import coverage_markdown, fan_chart_html

LEVELS = (0.8, 0.95)


def _row(day: int, actual: float | None) -> ServedRange:
    return ServedRange(
        "AAA", date(2012, 6, day), 100.0, {"0.8": [98.0, 102.0], "0.95": [96.0, 104.0]}, actual
    )


def test_a_self_contained_page_with_bands_and_the_misses_marked() -> None:
    # actual 101 inside both, 103 outside 80 % only, 95 outside both, the last not known yet
    rows = [_row(4, 101.0), _row(5, 103.0), _row(6, 95.0), _row(7, None)]
    page = fan_chart_html(rows, LEVELS, "t")
    assert page.count('<figure data-ticker="AAA">') == 1
    assert [m for m in re.findall(r'class="band" data-level="([0-9.]+)"', page)] == ["0.95", "0.8"]
    assert re.findall(r"<title>([^<]*)</title></circle>", page) == [
        "2012-06-05: 103.00 outside",
        "2012-06-06: 95.00 outside both",
    ]
    assert "80%: 1/3 inside, 95%: 2/3 inside" in page
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert "No forecast with prediction intervals yet." in fan_chart_html([], LEVELS, "t")


def test_the_coverage_card_is_a_table_per_level_and_says_when_there_is_nothing() -> None:
    stats = {"range_n": 8.0}
    for key in ("0.8", "0.95"):
        stats |= {f"coverage_{key}": 0.75, f"coverage_{key}_AAA": 0.5, f"coverage_{key}_BBB": 1.0}
        stats |= {f"width_{key}": 0.02, f"winkler_{key}": 0.03, f"kupiec_p_{key}": 0.7}
        stats |= {f"winkler_{key}_ewma": 0.03, f"winkler_{key}_rolling": 0.04}
        stats |= {f"coverage_{key}_ewma": 0.7, f"coverage_{key}_rolling": 0.9}
    card = coverage_markdown(stats, LEVELS)
    assert "| level | coverage | AAA | BBB | width |" in card
    # coverage, per ticker, width and Winkler in %, the baselines' Winkler, improvements, Kupiec p, coverages
    row = (
        "| 80% | 0.750 | 0.500 | 1.000 | 2.000 | 3.000 | 3.000 | 4.000 | +25.0% | +0.0% | 0.7 | 0.700 "
        "| 0.900 |"
    )
    assert row in card
    assert "No matured forecast" in coverage_markdown({}, LEVELS)
