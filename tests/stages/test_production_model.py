"""production-model on the shared replay's registry: the aliased version and its dataset, or none."""

from __future__ import annotations

import pytest

from stockpredictor.stages.production_model import production_model
from tests.support.replay import Replayed

pytestmark = pytest.mark.slow  # the shared replay trains models


def test_production_model_is_the_aliased_version(replayed: Replayed) -> None:
    found = production_model(replayed.params, replayed.settings)
    assert (
        found is not None and found.model_uri == f"models:/{replayed.params.train.model_name}/{found.version}"
    )
    expected = [e.result for e in replayed.trainings if e.result.promotion.promoted][-1]
    assert (found.version, found.dataset_run_id) == (expected.model_version, expected.dataset_run_id)
    other = replayed.params.model_copy(
        update={"train": replayed.params.train.model_copy(update={"model_name": "NeverTrained"})}
    )
    assert production_model(other, replayed.settings) is None
