"""`make demo`'s script, small: where it says to look next, then its store in the dashboard (headless
Chromium) and in `make mlflow-ui`.

The small demo runs the real script: the training and daily pipelines through kfp.local, then
`stockpredictor operate` over the rest of its month, with tiny training settings and a promotion gate
no candidate passes, so that the persistence baseline serves every forecast (it calls no move).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from sqlalchemy import func, select

from stockpredictor.config import DATA_DIR_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV, Settings
from stockpredictor.db.engine import make_engine
from stockpredictor.db.schema import model_promotions, monitor_decisions
from tests.conftest import REPO
from tests.pipelines.test_compile import TRAINING_STEPS
from tests.support.api_server import serving
from tests.support.chromium import chromium
from tests.support.cli import global_options
from tests.support.dashboard import DashboardDom
from tests.support.mlflow_server import MlflowServer, free_port
from tests.support.overrides import SAMPLE_TICKERS, SMALL_DEMO, repo_params

pytestmark = pytest.mark.slow  # both pipelines through kfp.local, and a month of daily operations

SESSIONS = 21  # forecasts per ticker; all but the last are scored within the month
DECISIONS_SHOWN = 15  # the dashboard's monitor table (dashboard.js)
SCREENSHOT = REPO / "test-artifacts" / "demo-dashboard.png"


@dataclass(frozen=True)
class Demo:
    """The small demo's store and what its script printed."""

    settings: Settings
    stdout: str
    stderr: str


def _run_demo(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (DATABASE_URL_ENV, MLFLOW_URI_ENV)}
    env |= {DATA_DIR_ENV: str(data_dir), "DEMO_SESSIONS": str(SESSIONS), "N_TRIALS": "1"}
    return subprocess.run(
        ["bash", "scripts/demo.sh", *global_options(*SMALL_DEMO)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    data = tmp_path_factory.mktemp("demo") / "data"
    done = _run_demo(data)
    assert done.returncode == 0, done.stderr[-3000:]
    settings = Settings(data, f"sqlite:///{data / 'stockpredictor.db'}", f"sqlite:///{data / 'mlflow.db'}")
    return Demo(settings, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def served(demo: Demo) -> Iterator[str]:
    """Base URL of `stockpredictor serve` on the demo's store and registry."""
    with serving(demo.settings) as server:
        yield server.url


def test_the_demo_ends_saying_where_to_look_next(demo: Demo) -> None:
    data = demo.settings.data_dir
    lines = demo.stdout.rstrip().splitlines()
    assert lines[-6] == "Where to look next"
    assert lines[-5].endswith(f"{DATA_DIR_ENV}={data} {REPO}/.venv/bin/stockpredictor serve")
    assert "http://127.0.0.1:8000" in lines[-4]
    assert lines[-3].endswith(f"{DATA_DIR_ENV}={data} make mlflow-ui")
    assert "http://127.0.0.1:5000" in lines[-2]
    assert lines[-1].strip().startswith(f"KFP runs:   {data / 'kfp'} ")
    runs = sorted(path.name.rsplit("-", 1)[0] for path in (data / "kfp").iterdir())
    assert runs == ["stockpredictor-daily", "stockpredictor-training"]
    for run in (data / "kfp").iterdir():  # each run: its steps' logs and its artifacts
        assert (run / "logs" / "configure.log").is_file()
        assert [path for path in run.iterdir() if path.name != "logs"]
    # operate's line for each session after the daily pipeline's, and the last session's forecasts
    assert len(re.findall(r"^  \d{4}-\d{2}-\d{2}  [a-z_]+ ", demo.stderr, re.MULTILINE)) == SESSIONS - 1
    assert "2013-03-01 -> 2013-03-04" in demo.stderr


def test_the_training_pipeline_ran_every_step_and_the_store_holds_its_decision(demo: Demo) -> None:
    """`pipeline run training` (README, "Locally") on its own: every step ran; the promote step's output is
    the gate's decision recorded for the first candidate, after which the persistence baseline serves."""
    [run] = (demo.settings.data_dir / "kfp").glob("stockpredictor-training-*")
    assert sorted(log.stem for log in (run / "logs").glob("*.log")) == sorted([*TRAINING_STEPS, "pipeline"])
    [outputs] = [path for path in run.iterdir() if path.name != "logs"]
    promote_output = json.loads((outputs / "promote" / "executor_output.json").read_text())
    query = select(model_promotions.c.candidate_version, model_promotions.c.decision)
    with make_engine(demo.settings.database_url).connect() as conn:
        first_two = conn.execute(query.order_by(model_promotions.c.id).limit(2)).all()
    assert promote_output["parameterValues"]["Output"] == "rejected"  # SMALL_DEMO's gate passes none
    assert [tuple(row) for row in first_two] == [(1, "rejected"), (2, "baseline")]


def test_a_second_demo_on_the_same_store_is_refused_in_one_line(demo: Demo) -> None:
    again = _run_demo(demo.settings.data_dir)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"error: {demo.settings.data_dir / 'stockpredictor.db'} exists (an earlier demo?): the demo starts "
        "on an empty store; `make clean-data` deletes data/"
    ]


def _called_moves(dom: DashboardDom) -> int:
    """Latest forecasts that call a move; a forecast of the last close shows no change and no call."""
    called = 0
    for ticker, (_, _, _, last, predicted, change, direction) in dom.cells.items():
        if predicted == last:
            assert (change, direction) == ("–", "no call"), ticker
        else:
            up = float(predicted) > float(last)
            assert direction == ("▲ up" if up else "▼ down") and change.startswith("+" if up else "-"), ticker
            called += 1
    return called


def test_the_dashboard_shows_the_month(demo: Demo, served: str, tmp_path: Path) -> None:
    document = chromium(tmp_path, served, "--dump-dom")
    dom = DashboardDom(document)
    assert dom.rows == list(SAMPLE_TICKERS)
    for ticker in SAMPLE_TICKERS:  # the last forecast's target has no close yet
        assert dom.points[ticker]["actual"] >= SESSIONS - 1 >= 20, ticker
        assert dom.points[ticker]["predicted"] >= SESSIONS, ticker
    # Rolling performance: the serving model's forecasts scored in the window, four tickers a session.
    evaluations = re.findall(
        r'<tr data-mlflow-run-id="[^"]+"><td>[^<]*(?:<span[^>]*>[^<]*</span>)?</td>'
        r'<td class="num">(\d+)</td>',
        document,
    )
    window = min(repo_params().monitoring.window_days, SESSIONS - 1)
    assert [int(n) for n in evaluations] == [len(SAMPLE_TICKERS) * window]
    # Monitor decisions: one a session, the newest shown.
    with make_engine(demo.settings.database_url).connect() as conn:
        decided = conn.execute(select(func.count()).select_from(monitor_decisions)).scalar_one()
    assert decided == SESSIONS
    assert len(re.findall(r'<tr data-decision="[a-z_]+">', document)) == min(decided, DECISIONS_SHOWN)
    assert re.findall(r'<p class="message" id="[a-z-]+">([^<]*)</p>', document) == ["", "", "", ""]
    # No direction for a forecast that calls none: the baseline serves, so nothing on the page has an arrow.
    assert _called_moves(dom) == document.count("▲") == document.count("▼") == 0
    assert "the persistence baseline serves" in document

    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    chromium(tmp_path, served, f"--screenshot={SCREENSHOT}")
    assert SCREENSHOT.stat().st_size > 20_000


def test_make_mlflow_ui_shows_the_demo_registry(demo: Demo, tmp_path: Path) -> None:
    port = free_port()
    env = {DATA_DIR_ENV: str(demo.settings.data_dir), "MLFLOW_UI_PORT": str(port)}
    uri = demo.settings.mlflow_tracking_uri
    server = MlflowServer(["make", "-s", "mlflow-ui"], port, uri, tmp_path / "mlflow-ui.log", env)
    try:
        name = "StockPricePredictorLSTM"
        shown = httpx.get(
            f"{server.url}/api/2.0/mlflow/model-versions/search", params={"filter": f"name='{name}'"}
        ).json()["model_versions"]
        stored = MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions(f"name='{name}'")
        assert sorted(int(v["version"]) for v in shown) == sorted(int(v.version) for v in stored)
        assert len(stored) >= 2  # the trained candidate and the persistence baseline, at least
    finally:
        server.stop()
