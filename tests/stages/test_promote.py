"""The promotion gate with real trained models, scored on raw data after their dataset's as_of."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient

from stockpredictor import registry, registry_models
from stockpredictor.config import PromotionParams
from stockpredictor.db.model_manifests import recorded_manifest
from stockpredictor.db.promotions import promotion_log
from stockpredictor.models import ModelSpec, build_model
from stockpredictor.registry_manifest import MANIFEST_PARAM, Manifest
from stockpredictor.stages.promote import gate, promote
from tests.support.overrides import ANY_FIRST_MODEL_PASSES
from tests.support.sample_dataset import BOTH_STORES, LATEST, MODEL_NAME, tiny_params, train_with
from tests.support.trained_model import Trained
from tests.support.trust import register_trusted


def production_version() -> int | None:
    production = registry.production_model(MODEL_NAME)
    return production.version if production else None


RULES = PromotionParams(
    window_days=20, evidence_days=100, min_improvement=0.1, persistence_tolerance=0.0, alpha=0.05
)
LENIENT = PromotionParams(window_days=20, min_improvement=0.1, persistence_tolerance=0.05, alpha=1)
RECENT_ONLY = PromotionParams(window_days=20, evidence_days=0, alpha=0.05)


def gated(
    ratio: float,
    p_better: float,
    production: float | None = None,
    evidence: tuple[float, float] = (0.99, 0.01),
) -> dict[str, float]:
    """Gate metrics: the candidate's loss ratio and p-value on the recent window and (`evidence`) over the
    evidence window of 100 sessions, and production's ratio when there is one."""
    metrics = {"candidate_log_mae_ratio": ratio, "candidate_loss_p_better": p_better}
    metrics |= {
        "candidate_evidence_log_mae_ratio": evidence[0],
        "candidate_evidence_loss_p_better": evidence[1],
        "candidate_evidence_loss_sessions": 100.0,
    }
    return metrics if production is None else {**metrics, "production_log_mae_ratio": production}


@pytest.mark.parametrize(
    ("rules", "metrics", "promoted", "reason"),
    [
        (RULES, gated(0.98, 0.01), True, "first model, beats persistence"),
        (RULES, gated(0.98, 0.2), False, "not significantly better than persistence"),
        (RULES, gated(0.98, float("nan")), False, "not significantly better than persistence"),
        (RULES, gated(1.01, 0.01), False, "worse than persistence"),
        (LENIENT, gated(1.05, 0.9), True, "first model, beats persistence"),  # no evidence asked
        (LENIENT, gated(1.06, 0.9), False, "worse than persistence"),
        (RULES, gated(0.85, 0.001, production=0.95), True, "better than production"),
        (RULES, gated(0.90, 0.001, production=0.95), False, "not better than production"),
        (RULES, gated(1.2, 0.001, production=9.0), False, "worse than persistence"),
        # A recent edge that the longer evidence window does not confirm is luck.
        (RULES, gated(0.97, 0.01, evidence=(0.995, 0.2)), False, "its edge does not last"),
        (RULES, gated(0.97, 0.01, evidence=(1.001, 0.001)), False, "its edge does not last"),
        (RULES, gated(0.97, 0.01, evidence=(0.99, float("nan"))), False, "its edge does not last"),
        (RECENT_ONLY, gated(0.97, 0.01, evidence=(1.2, 0.9)), True, "first model, beats persistence"),
        (LENIENT, gated(1.05, 0.9, evidence=(1.2, 0.9)), True, "first model, beats persistence"),
    ],
)
def test_gate_rules(rules: PromotionParams, metrics: dict[str, float], promoted: bool, reason: str) -> None:
    decision, why = gate(metrics, rules, "production_log_mae_ratio" in metrics)
    assert decision is promoted and why.startswith(reason), why


def test_the_gate_names_the_evidence_window_figures() -> None:
    decision, why = gate(gated(0.97, 0.01, evidence=(0.995, 0.2)), RULES, False)
    assert not decision
    assert why == (
        "its edge does not last: candidate log-return MAE 0.9700x persistence's (<= 1 + "
        "persistence_tolerance 0), Diebold-Mariano p 0.01 < alpha 0.05; over the last 100 sessions "
        "(evidence_days 100) 0.9950x, p 0.2 >= alpha"
    )


@pytest.mark.parametrize("evidence_days", [1, 19])
def test_the_evidence_window_is_off_or_at_least_the_gate_window(evidence_days: int) -> None:
    refusal = rf"evidence_days \({evidence_days}\) must be 0 or >= window_days \(20\)"
    with pytest.raises(ValueError, match=refusal):
        PromotionParams(window_days=20, evidence_days=evidence_days)


def test_the_gate_refuses_a_candidate_whose_intervals_miss_their_level() -> None:
    metrics = gated(0.85, 0.001, production=0.95)
    coverage = {"gate_coverage_0.8": 0.62, "gate_kupiec_p_0.8": 0.004, "gate_coverage_0.95": 0.94}
    coverage["gate_kupiec_p_0.95"] = 0.6
    decision, why = gate(metrics | coverage, RULES, True, coverage_alpha=0.01)
    assert not decision
    assert why == (
        "its prediction intervals miss their level: 80% covered 0.620 (Kupiec p=0.004 < coverage_alpha 0.01)"
    )
    assert gate(metrics | coverage, RULES, True, coverage_alpha=0.001)[0]  # p 0.004 passes at 0.001
    too_wide = coverage | {"gate_coverage_0.8": 0.97}
    assert gate(metrics | too_wide, RULES, True, coverage_alpha=0.01)[0]  # wider than needed is not refused


@pytest.mark.slow
def test_gate_scenarios_are_decided_on_the_same_window_and_logged(trained: Trained) -> None:
    engine, run_id, settings = trained.store.engine, trained.store.run_id, trained.settings
    params = tiny_params("promotion.persistence_tolerance=0.25", "promotion.alpha=1")
    # One model trained for 8 epochs (the session's) and one barely trained (1 epoch at a tiny learning rate).
    good = trained.result
    bad = train_with(engine, tiny_params("train.max_epochs=1"), settings, run_id, learning_rate=1e-4)

    first = promote(engine, params, settings, mlflow_run_id=bad.mlflow_run_id, as_of=LATEST)
    assert (first.decision, first.promoted, first.production_version) == ("rejected", False, None)
    assert first.reason.startswith("worse than persistence")
    assert first.metrics["candidate_log_mae_ratio"] > 1.25
    # No model yet: the persistence baseline is registered on the candidate's dataset and serves.
    baseline = registry.production_model(MODEL_NAME)
    assert baseline is not None and baseline.baseline == "persistence"
    assert baseline.dataset_run_id == run_id and baseline.version == bad.model_version + 1 == 3
    assert first.reason.endswith(f"; the persistence baseline (version {baseline.version}) holds production")
    # Its manifest went to the store with its promotion record, so it loads through the same check
    # as a trained version and forecasts exactly persistence on the gate's window: the last close
    # itself, bit for bit (no scaler round trip).
    with engine.connect() as conn:
        trusted = recorded_manifest(conn, baseline.mlflow_run_id)
    logged = Manifest.from_json(registry.run_params(baseline.mlflow_run_id)[MANIFEST_PARAM])
    assert trusted == (logged, logged.digest)
    again = promote(engine, params, settings, mlflow_run_id=bad.mlflow_run_id, as_of=LATEST)
    assert (again.decision, again.production_version) == ("rejected", baseline.version)
    assert again.metrics["production_mae"] == again.metrics["persistence_mae"]
    assert again.metrics["production_log_mae_ratio"] == 1.0
    assert "production_directional_accuracy" not in again.metrics  # no call
    assert production_version() == baseline.version

    forced = promote(engine, params, settings, version=bad.model_version, force=True)
    assert (forced.decision, forced.promoted) == ("forced", True)
    assert production_version() == bad.model_version

    better = promote(engine, params, settings, mlflow_run_id=good.mlflow_run_id, as_of=LATEST)
    assert (better.decision, better.promoted, better.production_version) == (
        "promoted",
        True,
        bad.model_version,
    )
    assert better.reason.startswith("better than production")
    assert better.metrics["candidate_log_mae_ratio"] < better.metrics["production_log_mae_ratio"]
    assert better.metrics["candidate_log_mae_ratio"] <= 1.25
    assert production_version() == good.model_version

    # A lenient persistence tolerance leaves the comparison with production as the deciding rule.
    worse = promote(
        engine,
        tiny_params(*ANY_FIRST_MODEL_PASSES),
        settings,
        version=bad.model_version,
        as_of=LATEST,
    )
    assert (worse.decision, worse.promoted, worse.production_version) == (
        "rejected",
        False,
        good.model_version,
    )
    assert worse.reason.startswith("not better than production")
    assert production_version() == good.model_version
    # Same window, same numbers: the production model's MAE now is the good candidate's MAE before.
    assert worse.metrics["production_log_mae_ratio"] == pytest.approx(
        better.metrics["candidate_log_mae_ratio"]
    )
    assert worse.metrics["candidate_log_mae_ratio"] == pytest.approx(
        better.metrics["production_log_mae_ratio"]
    )
    assert worse.metrics["production_mae"] == pytest.approx(better.metrics["candidate_mae"])
    assert (
        worse.metrics["persistence_log_mae"]
        == better.metrics["persistence_log_mae"]
        == first.metrics["persistence_log_mae"]
    )

    itself = promote(engine, params, settings, version=good.model_version, as_of=LATEST)
    assert (itself.decision, itself.metrics) == (
        "rejected",
        {},
    ) and "already is the production" in itself.reason

    with engine.connect() as conn:
        log = promotion_log(conn, MODEL_NAME)
    assert [(r.decision, r.candidate_version, r.production_version) for r in log] == [
        ("rejected", bad.model_version, None),
        ("baseline", baseline.version, None),
        ("rejected", bad.model_version, baseline.version),
        ("forced", bad.model_version, baseline.version),
        ("promoted", good.model_version, bad.model_version),
        ("rejected", bad.model_version, good.model_version),
        ("rejected", good.model_version, good.model_version),
    ]
    assert first.reason.startswith(log[0].reason) and log[1].reason.startswith("no trained model beat")
    assert [r.reason for r in log[2:]] == [r.reason for r in (again, forced, better, worse, itself)]
    assert log[0].as_of_date == log[1].as_of_date == LATEST  # the day of data the decisions saw
    log = [log[0], *log[3:]]  # the decisions checked below, as before the baseline
    assert log[2].candidate_run_id == good.mlflow_run_id
    assert (
        log[2].metrics["window"]
        == log[3].metrics["window"]
        == {
            "first": "2007-06-04",
            "last": "2007-06-29",
            "n_days": 20,
            "tickers": ["AAPL", "GOOG", "IBM", "MSFT"],
            "candidate_forecasts": "walk-forward up to 2006-12-29, then the registered model",
        }
    )
    assert log[3].metrics["candidate_mae"] == worse.metrics["candidate_mae"]
    tags = MlflowClient().get_model_version(MODEL_NAME, str(bad.model_version)).tags
    assert tags["promotion_decision"] == "rejected" and tags["promotion_reason"] == worse.reason
    assert MlflowClient().get_run(good.mlflow_run_id).data.tags["promotion_decision"] == "rejected"


@pytest.mark.filterwarnings("ignore:The tensor attributes")
@pytest.mark.parametrize("trained", BOTH_STORES, indirect=True)
def test_a_production_model_of_the_old_input_shape_is_left_out_and_said_so(trained: Trained) -> None:
    engine, run_id, params = trained.store.engine, trained.store.run_id, tiny_params()
    settings, candidate = trained.settings, trained.result
    features = len(params.features.indicators)
    old = build_model(
        ModelSpec("lstm", n_stocks=4, n_features=features, hidden_size=4, num_layers=1, dropout=0.0)
    )
    with registry.start_run("trained-before-presence") as run:
        run.log_params({"dataset_run_id": run_id})
        logged = registry_models.log_model(old, np.zeros((2, 10, 4, features), np.float32), metadata={})
    version = register_trusted(engine, logged, MODEL_NAME)
    registry.set_alias(MODEL_NAME, version)
    result = promote(
        engine,
        tiny_params(*ANY_FIRST_MODEL_PASSES),
        settings,
        mlflow_run_id=candidate.mlflow_run_id,
        as_of=LATEST,
    )
    assert (result.decision, result.production_version) == ("promoted", version)
    assert result.reason.startswith(
        f"production version {version} cannot be scored (the model takes inputs of shape "
        f"(10, 4, {features}), its dataset's windows are (10, 4, {features + 1})); first model, beats"
    )
    assert "production_mae" not in result.metrics and production_version() == candidate.model_version
