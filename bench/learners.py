"""Issue 23 item 5: the tabular learners beside the LSTMs: cost of a training cycle, and the gate window.

Per as-of, on the sample data up to that day in a scratch SQLite store and MLflow store: for each
configuration, one training cycle (`run_training`: process, scale, optimize, train with its refit up
to the as-of, promote), timed (wall and CPU seconds of this process, all threads), and what the gate
measured on the candidate: the scale-free loss ratio to persistence (`models.loss`: absolute
log-return errors, session means over tickers) on the gate's window, the paired Diebold-Mariano
p-values (better / worse than persistence) and the price-MAE ratio.

Configurations: `lstm` (the search before: the three LSTM families, 20 trials, no warm start), `all`
(the LSTMs, gbm and ridge, 20 trials), `tabular` (gbm and ridge, 20 trials), and `warm` (all five,
warm-started from the previous configuration's study in the same store, `all` in this order, on a
dataset of the same as-of: `optimize.warm_n_trials` trials).

Run: `python -m bench learners` (or `python -m bench.learners --as-of 2012-03-01 --configs lstm all`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.common import machine
from stockpredictor import registry
from stockpredictor.config import Settings, load_params
from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.db.optimization import load_optimization
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.training_cycle import run_training

#: What `promote` measured on the candidate: the scale-free loss ratio, its paired test, the price ratio.
GATE_FIGURES = (
    "candidate_log_mae_ratio",
    "candidate_loss_p_better",
    "candidate_loss_p_worse",
    "candidate_loss_sessions",
    "candidate_mae_ratio",
)
ALL = "optimize.architectures=[lstm,lstm_attention,lstm_cross_attention,gbm,ridge]"
CONFIGS: dict[str, list[str]] = {
    "lstm": [
        "optimize.architectures=[lstm,lstm_attention,lstm_cross_attention]",
        "optimize.warm_start_trials=0",
    ],
    "tabular": ["optimize.architectures=[gbm,ridge]", "optimize.warm_start_trials=0"],
    "all": [ALL, "optimize.warm_start_trials=0"],
    "warm": [ALL],
}


def cycle(engine_url: str, settings: Settings, as_of: date, overrides: list[str]) -> dict[str, float]:
    """One training cycle (`run_training`: process ... promote), timed; the gate's figures."""
    params = load_params(overrides=overrides)
    engine = make_engine(engine_url)
    wall, cpu = time.perf_counter(), time.process_time()
    done = run_training(engine, params, settings, as_of)
    figures = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    gate = done.promotion.metrics
    figures.update({k: gate[k] for k in GATE_FIGURES})
    with engine.connect() as conn:
        searched = load_optimization(conn, done.dataset_run_id)
    assert searched is not None
    print(
        f"    {done.promotion.decision}: family {searched.best_params['architecture']}, "
        f"{searched.n_complete + searched.n_pruned} trials ({searched.n_pruned} pruned), "
        f"best {searched.best_params}",
        flush=True,
    )
    engine.dispose()
    return figures


def run(as_ofs: list[date], configs: list[str]) -> dict[str, dict[str, float]]:
    """Every configuration at every as-of; prints one line per cycle."""
    results: dict[str, dict[str, float]] = {}
    print(f"learners: sample data, {machine()}")
    for as_of in as_ofs:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/store.db"
            engine = make_engine(url)
            migrate(engine)
            ingest(engine, load_params(), as_of)
            engine.dispose()
            settings = Settings(Path(tmp) / "data", url, f"sqlite:///{tmp}/mlflow.db")
            registry.use_tracking(settings)
            for name in configs:
                figures = cycle(url, settings, as_of, CONFIGS[name])
                results[f"{as_of} {name}"] = figures
                print(
                    f"  {as_of} {name:<8} cycle {figures['wall_s']:7.1f} s wall "
                    f"{figures['cpu_s']:7.1f} s CPU | "
                    f"gate {int(figures['candidate_loss_sessions'])} sessions: log-return MAE ratio "
                    f"{figures['candidate_log_mae_ratio']:.4f}, "
                    f"p(better) {figures['candidate_loss_p_better']:.3f}, "
                    f"p(worse) {figures['candidate_loss_p_worse']:.3f}, "
                    f"price-MAE ratio {figures['candidate_mae_ratio']:.4f}",
                    flush=True,
                )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--as-of", nargs="+", type=date.fromisoformat, default=[date(2012, 3, 1), date(2008, 6, 2)]
    )
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    args = parser.parse_args(argv)
    run(args.as_of, args.configs)


if __name__ == "__main__":
    main()
