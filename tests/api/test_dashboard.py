"""The dashboard in headless Chromium, served by `stockpredictor serve` (uvicorn) on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from stockpredictor.calendar import trading_days
from stockpredictor.db.schema import latest_predictions, raw_stock_data
from tests.conftest import REPO
from tests.support.api_server import serving
from tests.support.chromium import chromium
from tests.support.dashboard import DashboardDom
from tests.support.overrides import REPLAY
from tests.support.replay import REPLAY_END, REPLAY_START, TICKERS, Replayed

pytestmark = pytest.mark.slow  # the shared replay trains models

SCREENSHOT = REPO / "test-artifacts" / "dashboard.png"


@pytest.fixture(scope="module")
def served(replayed: Replayed) -> Iterator[str]:
    """Base URL of `stockpredictor serve` on the replay's store and registry."""
    with serving(replayed.settings, overrides=REPLAY) as server:
        yield server.url


def _outside_80(replayed: Replayed) -> int:
    """How many stored daily forecasts' actual closes fell outside their 80 % interval."""
    with replayed.engine.connect() as conn:
        rows = conn.execute(
            select(latest_predictions.c.intervals, raw_stock_data.c.close)
            .join(
                raw_stock_data,
                (raw_stock_data.c.ticker == latest_predictions.c.ticker)
                & (raw_stock_data.c.date == latest_predictions.c.target_date),
            )
            .where(latest_predictions.c.kind == "daily")
        ).all()
    return sum(not r.intervals["0.8"][0] <= r.close <= r.intervals["0.8"][1] for r in rows)


def test_dashboard_shows_a_row_and_a_chart_per_ticker(
    served: str, replayed: Replayed, tmp_path: Path
) -> None:
    document = chromium(tmp_path, served, "--dump-dom")
    dom = DashboardDom(document)
    assert dom.rows == list(TICKERS)
    days = len(trading_days(REPLAY_START, REPLAY_END))
    # a point per prediction: the actual close is known for all but the last one; each interval level is
    # a band: its upper bounds forward and its lower bounds back (2 n - 1 segments)
    assert dom.segments == {
        t: {
            "actual": days - 2,
            "predicted": days - 1,
            "band band-outer": 2 * days - 1,
            "band band-inner": 2 * days - 1,
        }
        for t in TICKERS
    }
    # misses: one mark per actual close outside the 80 % band, as the store says
    marked = re.findall(
        r'<circle class="miss"[^>]*data-level="([0-9.]+)" data-target-date="([0-9-]+)"', document
    )
    assert len(marked) == _outside_80(replayed) and {level for level, _ in marked} <= {"0.8", "0.95"}
    assert document.count("Coverage of matured forecasts: 80%:") == len(TICKERS)
    assert re.search(r'<dl id="model-card"[^>]*><dt>Model</dt>', document)
    assert '<span class="badge">production</span>' in document
    # The model card and its performance row carry the production model's MLflow run id.
    bootstrap = replayed.bootstrap.result.mlflow_run_id
    assert document.count(f'data-mlflow-run-id="{bootstrap}"') == 2
    assert re.search(r'<table id="test-metrics">.*<td>MAE</td><td class="num">\d', document, re.DOTALL)
    for baseline in ("always up", "last move"):  # direction next to both baselines, not persistence
        assert re.search(
            rf'<td>Direction</td><td class="num">\d[^<]*</td><td class="num">\d[^<]*% \({baseline}\)',
            document,
        )
    assert re.findall(r'<p class="message" id="[a-z-]+">([^<]*)</p>', document) == ["", "", "", ""]
    # One row per monitor decision of the replay (one a day), newest first, with its reason.
    shown = re.findall(r'<tr data-decision="([a-z_]+)"><td>(\d{4}-\d{2}-\d{2})</td>', document)
    assert shown[0][1] == str(REPLAY_END) and len(shown) == 15  # (other tests may rerun that day's monitor)
    assert shown[-1] == ("insufficient_data", str(trading_days(REPLAY_START, REPLAY_END)[-15]))
    assert [day for _, day in shown] == sorted((day for _, day in shown), reverse=True)
    assert "hard guard" in document

    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    chromium(tmp_path, served, f"--screenshot={SCREENSHOT}")
    assert SCREENSHOT.stat().st_size > 20_000
