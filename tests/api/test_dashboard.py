"""The dashboard in headless Chromium, served by `stockpredictor serve` (uvicorn) on 127.0.0.1."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from stockpredictor.calendar import trading_days
from stockpredictor.config import DATA_DIR_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV
from tests.conftest import REPO
from tests.support.cli import command
from tests.support.overrides import REPLAY
from tests.support.replay import REPLAY_END, REPLAY_START, TICKERS, Replayed

pytestmark = pytest.mark.slow  # the shared replay trains models

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "test-artifacts" / "dashboard.png"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served(replayed: Replayed) -> Iterator[str]:
    """Base URL of `stockpredictor serve` on the replay's store and registry."""
    port = _free_port()
    settings = replayed.settings
    env = {
        **os.environ,
        DATA_DIR_ENV: str(settings.data_dir),
        DATABASE_URL_ENV: settings.database_url,
        MLFLOW_URI_ENV: settings.mlflow_tracking_uri,
    }
    server = subprocess.Popen(
        [*command(*REPLAY), "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"`stockpredictor serve` did not come up: {server.communicate()[1][-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _chromium(tmp_path: Path, url: str, *args: str) -> str:
    """Run headless Chromium on `url` until its scripts are done; returns stdout."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium package)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1500",
        "--virtual-time-budget=5000",
        *args,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


class _Dom(HTMLParser):
    """Table rows by ticker and, per chart, the number of segments of each line."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.segments: dict[str, dict[str, int]] = defaultdict(dict)
        self._chart = ""
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-ticker"):
            self.rows.append(str(a["data-ticker"]))
        elif tag == "svg":
            self._chart = str(a.get("data-ticker"))
        elif tag == "path" and str(a.get("d")).count("L") > 0:  # the legend's strokes have no L
            self.segments[self._chart][str(a.get("class"))] = str(a["d"]).count("L")


def test_dashboard_shows_a_row_and_a_chart_per_ticker(
    served: str, replayed: Replayed, tmp_path: Path
) -> None:
    document = _chromium(tmp_path, served, "--dump-dom")
    dom = _Dom(document)
    assert dom.rows == list(TICKERS)
    days = len(trading_days(REPLAY_START, REPLAY_END))
    # a point per prediction: the actual close is known for all but the last one
    assert dom.segments == {t: {"actual": days - 2, "predicted": days - 1} for t in TICKERS}
    assert re.search(r'<dl id="model-card"[^>]*><dt>Model</dt>', document)
    assert '<span class="badge">production</span>' in document
    # The model card and its performance row carry the production model's MLflow run id.
    bootstrap = replayed.bootstrap.result.mlflow_run_id
    assert document.count(f'data-mlflow-run-id="{bootstrap}"') == 2
    assert re.search(r'<table id="test-metrics">.*<td>MAE</td><td class="num">\d', document, re.DOTALL)
    assert re.findall(r'<p class="message" id="[a-z-]+">([^<]*)</p>', document) == ["", "", "", ""]
    # One row per monitor decision of the replay (one a day), newest first, with its reason.
    shown = re.findall(r'<tr data-decision="([a-z_]+)"><td>(\d{4}-\d{2}-\d{2})</td>', document)
    assert shown[0][1] == str(REPLAY_END) and len(shown) == 15  # (other tests may rerun that day's monitor)
    assert shown[-1] == ("insufficient_data", str(trading_days(REPLAY_START, REPLAY_END)[-15]))
    assert [day for _, day in shown] == sorted((day for _, day in shown), reverse=True)
    assert "hard guard" in document

    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    _chromium(tmp_path, served, f"--screenshot={SCREENSHOT}")
    assert SCREENSHOT.stat().st_size > 20_000
