"""`optimize` on SQLite and PostgreSQL: the study lives in the store, prunes, reports every epoch, resumes."""

from __future__ import annotations

import optuna
import pytest
from sqlalchemy import Engine, inspect

from stockpredictor.db.optimization import load_optimization
from stockpredictor.errors import UsageError
from stockpredictor.stages.optimize import optimize
from stockpredictor.stages.optimize_study import search_families, storage_for, study_name
from tests.support.sample_dataset import add_sample_dataset, tiny_params

pytestmark = pytest.mark.slow  # runs Optuna trials: trains models

States = optuna.trial.TrialState


def test_search_prunes_reports_every_epoch_and_resumes(engine: Engine) -> None:
    run_id = add_sample_dataset(engine, tiny_params())
    result = optimize(engine, tiny_params("optimize.n_trials=5"), run_id)

    assert result.study_name == study_name(run_id) == f"dataset-{run_id}"
    assert result.n_complete + result.n_pruned == 5
    assert result.n_pruned >= 1, "the median pruner never pruned"
    study = optuna.load_study(study_name=result.study_name, storage=storage_for(engine))
    assert "trials" in inspect(engine).get_table_names()  # the study is stored in the project database
    for trial in study.trials:
        steps = sorted(trial.intermediate_values)
        assert steps == list(range(1, len(steps) + 1)), "a validation loss is reported for every epoch"
        if trial.state == States.COMPLETE:
            assert len(steps) == 4 and trial.value == min(trial.intermediate_values.values())
        else:
            assert trial.state == States.PRUNED and 2 <= len(steps) <= 4
    best = study.best_trial
    assert (result.best_params, result.best_value) == (best.params, best.value)
    assert set(best.params) == {
        "architecture",
        "hidden_size",
        "num_layers",
        "dropout",
        "learning_rate",
        "batch_size",
    }
    with engine.connect() as conn:
        assert load_optimization(conn, run_id) == result

    # Asking for 6 trials runs only the missing one; asking again runs none.
    resumed = optimize(engine, tiny_params("optimize.n_trials=6"), run_id)
    assert len(study.get_trials(states=(States.COMPLETE, States.PRUNED))) == 6
    assert resumed.n_complete + resumed.n_pruned == 6 and resumed.best_value <= result.best_value
    optimize(engine, tiny_params("optimize.n_trials=6"), run_id)
    assert len(study.trials) == 6
    with engine.connect() as conn:
        assert load_optimization(conn, run_id) == resumed


def test_search_families_leave_cross_attention_out_of_a_large_universe() -> None:
    params = tiny_params("optimize.architectures=[lstm, lstm_cross_attention, ridge]")
    assert search_families(params, 50) == ["lstm", "lstm_cross_attention", "ridge"]
    assert search_families(params, 51) == ["lstm", "ridge"]  # cross_attention_max_tickers: 50
    only = tiny_params(
        "optimize.architectures=[lstm_cross_attention]", "optimize.cross_attention_max_tickers=3"
    )
    with pytest.raises(
        UsageError, match=r"only lstm_cross_attention.*cross_attention_max_tickers \(3\).*has 4"
    ):
        search_families(only, 4)


def test_a_search_over_more_tickers_than_the_cap_never_tries_cross_attention(engine: Engine) -> None:
    run_id = add_sample_dataset(engine, tiny_params())  # 4 tickers
    capped = (
        "optimize.architectures=[lstm_cross_attention, ridge]",
        "optimize.cross_attention_max_tickers=3",
    )
    result = optimize(engine, tiny_params(*capped, "optimize.n_trials=3"), run_id)
    study = optuna.load_study(study_name=result.study_name, storage=storage_for(engine))
    assert [t.params["architecture"] for t in study.trials] == ["ridge"] * 3
    with pytest.raises(UsageError, match="cross_attention_max_tickers"):
        optimize(engine, tiny_params("optimize.architectures=[lstm_cross_attention]", capped[1]), run_id)
