"""A degradation injected into a replay (a far-off version forced into production) is replaced quickly:
by a candidate that passes the gate, or, when none does, by the persistence baseline (demotion).

The replay runs the repository's monitoring rules (min_evaluations 10, cooldown 20 sessions after the
bootstrap training), only max_mape is 20% for the one-epoch models: only the MAPE hard guard, which
needs `guard_min_evaluations` (2) evaluated sessions and overrides the cooldown, can replace the
injected version within 5 sessions.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from stockpredictor import registry, registry_models
from stockpredictor.calendar import trading_days
from stockpredictor.config import Params
from stockpredictor.db.datasets import load_scaled
from stockpredictor.db.engine import make_engine
from stockpredictor.db.events import undelivered_events
from stockpredictor.db.promotions import promotion_log
from stockpredictor.features.scaling import MinMaxScaler
from stockpredictor.stages.monitor import RETRAIN
from stockpredictor.stages.promote import FORCED, PROMOTED, promote
from stockpredictor.stages.replay import ReplayResult, replay, workspace_settings
from stockpredictor.stages.replay_report import ReplayDay
from tests.support.overrides import REPLAY, repo_params
from tests.support.trust import register_trusted

pytestmark = pytest.mark.slow  # the replay trains models

START, END = date(2012, 11, 1), date(2012, 11, 14)  # 10 sessions
INJECT_AFTER = 3  # the bad version is forced after the third day's operations
WITHIN = 5  # sessions


class FarOff(nn.Module):
    """Predicts a log return of +0.5 (a close 65% above the last one) for every stock."""

    def __init__(self, y_scaler: MinMaxScaler) -> None:
        super().__init__()
        self.far_off: torch.Tensor
        self.register_buffer(
            "far_off", torch.from_numpy(y_scaler.transform(np.full(y_scaler.data_min.shape, 0.5)))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x[:, -1, :, 0]) + self.far_off


def _force_bad_version(params: Params, output: Path, day: date) -> int:
    """Register `FarOff` on the production model's dataset in the replay's registry and force it."""
    settings = workspace_settings(output)
    registry.use_tracking(settings)
    production = registry.production_model(params.train.model_name)
    assert production is not None
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            dataset = load_scaled(conn, production.dataset_run_id)
        registry.use_experiment(params.train.experiment_name)
        tags = {"dataset_run_id": production.dataset_run_id}
        with registry.start_run("injected-degradation") as run:
            run.set_tags(tags)
            run.log_params(tags)
            example, _ = dataset.windows("train").batch(np.arange(2))
            logged = registry_models.log_model(FarOff(dataset.y_scaler), example, metadata=tags)
        version = register_trusted(engine, logged, params.train.model_name, tags=tags)
        forced = promote(engine, params, settings, version=version, force=True, as_of=day)
        assert (forced.decision, forced.promoted) == (FORCED, True)
    finally:
        engine.dispose()
    return version


def _replay_with_injection(params: Params, end: date, output: Path) -> tuple[ReplayResult, int]:
    """Replay START..end, forcing `FarOff` into production after the INJECT_AFTER-th day; its version."""
    days = trading_days(START, end)
    injected: list[int] = []

    def inject(replayed: ReplayDay) -> None:
        if replayed.day == days[INJECT_AFTER - 1]:
            injected.append(_force_bad_version(params, output, replayed.day))

    result = replay(params, START, end, output, on_day=inject)
    (bad,) = injected
    return result, bad


def test_a_bad_version_forced_into_production_is_replaced_within_5_sessions(tmp_path: Path) -> None:
    # the repository's monitoring rules, but a one-epoch model misses by about 6%: the guard at 20%
    params = repo_params(*(o for o in REPLAY if not o.startswith("monitoring.")), "monitoring.max_mape=20")
    assert (params.monitoring.min_evaluations, params.monitoring.cooldown_sessions) == (10, 20)
    result, bad = _replay_with_injection(params, END, tmp_path)
    before = result.days[:INJECT_AFTER]
    assert [len(d.trainings) for d in before] == [1] + [0] * (INJECT_AFTER - 1)  # the bootstrap only
    after = result.days[INJECT_AFTER:]
    replaced = next((i for i, d in enumerate(after, start=1) if d.trainings), None)
    print(f"the injected version {bad} was replaced after {replaced} session(s)")
    assert replaced is not None and replaced <= WITHIN, [d.monitor for d in after]
    decided = after[replaced - 1]
    assert decided.monitor is not None and decided.monitor.decision == RETRAIN
    assert "(hard guard)" in decided.monitor.reason
    assert "the hard guard overrides: in cooldown" in decided.monitor.reason
    (training,) = decided.trainings
    registry.use_tracking(workspace_settings(tmp_path))
    production = registry.production_model(params.train.model_name)
    assert production is not None and production.version != bad
    assert training.result.promotion.decision == PROMOTED or production.baseline is not None
    assert all(d.monitor is not None and d.monitor.mlflow_run_id for d in after)
    assert [d.prediction is not None for d in after] == [True] * len(after)


DEMOTION_END = date(2012, 12, 5)  # 24 sessions


def test_a_bad_version_no_candidate_beats_is_demoted_to_persistence_within_the_evidence_window(
    tmp_path: Path,
) -> None:
    # the repository's monitoring and promotion rules (a one-epoch candidate is not significantly better
    # than persistence, so no candidate replaces the injected version); the guard at 20% as above
    params = repo_params(
        *(o for o in REPLAY if not o.startswith(("monitoring.", "promotion."))), "monitoring.max_mape=20"
    )
    assert params.promotion.alpha == 0.05 and params.monitoring.window_days == 20
    result, bad = _replay_with_injection(params, DEMOTION_END, tmp_path)
    after = result.days[INJECT_AFTER:]
    demoted = next((i for i, d in enumerate(after, start=1) if d.monitor and d.monitor.demoted_to), None)
    print(f"the injected version {bad} was demoted after {demoted} session(s)")
    assert demoted is not None and demoted <= params.monitoring.window_days, [d.monitor for d in after]
    decided = after[demoted - 1].monitor
    assert decided is not None and decided.worse_than_persistence
    assert all(t.result.promotion.decision == "rejected" for d in after for t in d.trainings)
    registry.use_tracking(workspace_settings(tmp_path))
    production = registry.production_model(params.train.model_name)
    assert production is not None and production.baseline == "persistence"
    assert production.version == decided.demoted_to
    with make_engine(workspace_settings(tmp_path).database_url).connect() as conn:
        log = promotion_log(conn, params.train.model_name)
        alerts = [e for e in undelivered_events(conn) if e.kind == "demoted"]
    assert [(r.decision, r.production_version) for r in log if r.decision == "demoted"] == [("demoted", bad)]
    assert len(alerts) == 1 and alerts[0].fields["demoted_version"] == bad
    # from the next session on, persistence serves: its forecast is the last close, bit for bit
    served = [d.prediction for d in after[demoted:]]
    assert served and all(p is not None and p.baseline == "persistence" for p in served)
    assert all(p.predicted_close == p.last_close for s in served if s for p in s.predictions)
    summary = result.report.summary.read_text()
    assert f"v{bad} demoted" in summary and "DEFECT" not in summary
