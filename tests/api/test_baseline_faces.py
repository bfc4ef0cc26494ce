"""When the persistence baseline holds production, every face says so (README: "shown by the API and the
dashboard"; the predictions table of the Kubeflow UI) and its direction is "no call", never a number.

The store is the sample dataset with the baseline registered on it and one real day predicted by it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stockpredictor import registry
from stockpredictor.api import create_app
from stockpredictor.config import Settings
from stockpredictor.orchestration.runtime import predictions_markdown
from stockpredictor.stages.persistence import install_baseline
from stockpredictor.stages.predict import PredictResult, predict
from stockpredictor.stages.prepare_input import prepare_input
from tests.support.api_server import serving
from tests.support.chromium import chromium
from tests.support.overrides import SAMPLE_DATASET
from tests.support.sample_dataset import BOTH_STORES, LATEST, MODEL_NAME, SampleStore, tiny_params

PARAMS = tiny_params()
#: The README's words for it, and how the dashboard's model card and the Kubeflow table put them.
CARD = f"{MODEL_NAME} v1: the persistence baseline serves (no trained model beat it yet)"
TABLE = "Model version 1 (the persistence baseline: no trained model beat it yet)"


@dataclass(frozen=True)
class BaselineServes:
    settings: Settings
    predicted: PredictResult


@pytest.fixture
def baseline_serves(
    sample_store: SampleStore, settings: Settings, tmp_path: Path
) -> Iterator[BaselineServes]:
    registry.use_tracking(settings)
    version = install_baseline(
        sample_store.engine, PARAMS, sample_store.run_id, LATEST, "baseline", "no candidate passed the gate"
    )
    assert version == 1
    production = registry.production_model(MODEL_NAME)
    assert production is not None and production.baseline == "persistence"
    prepared = prepare_input(sample_store.engine, PARAMS, sample_store.run_id, LATEST, tmp_path / "inputs")
    yield BaselineServes(
        settings, predict(sample_store.engine, PARAMS, settings, prepared.path, production.model_uri)
    )


@pytest.mark.parametrize("sample_store", BOTH_STORES, indirect=True)
def test_the_model_card_and_the_predictions_say_the_baseline_serves(baseline_serves: BaselineServes) -> None:
    assert baseline_serves.predicted.baseline == "persistence"
    assert TABLE in predictions_markdown(baseline_serves.predicted)
    with TestClient(create_app(baseline_serves.settings, PARAMS)) as client:
        card = client.get("/model").json()
        latest = client.get("/predictions/latest").json()
    assert (card["version"], card["baseline"]) == ("1", "persistence")
    served = latest["predictions"]
    assert served and {p["direction"] for p in served} == {"no call"}  # a forecast of the last close
    assert all(p["predicted_close"] == p["last_close"] for p in served)


@pytest.mark.slow
def test_the_dashboard_says_the_baseline_serves(baseline_serves: BaselineServes, tmp_path: Path) -> None:
    with serving(baseline_serves.settings, overrides=SAMPLE_DATASET, ready="/model") as server:
        document = chromium(tmp_path, server.url, "--dump-dom")
    assert CARD in document
    assert "no call" in document and "▲" not in document and "▼" not in document  # no arrow
