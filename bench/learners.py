"""Issue 23 item 5: the tabular learners beside the LSTMs: cost of a training cycle, and the gate window.

Per as-of, on the sample data up to that day in a scratch SQLite store and MLflow store: for each
configuration, a fresh dataset (`process`, `scale`), then `optimize` + `train` timed together (wall
and CPU seconds of this process, all threads), then the trained candidate on the gate's window (the
last `promotion.window_days` sessions up to the as-of, scored as `promote` scores it) next to
persistence: the ratio of absolute log-return errors (pooled over tickers and per ticker, averaged)
and the one-sided paired Diebold-Mariano p-values (model better / model worse) on the per-session
mean absolute log-return error.

Configurations: `lstm` (the default search: three LSTM families, 20 trials, no warm start), `all`
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

import numpy as np

from bench.common import machine
from stockpredictor import registry
from stockpredictor.config import Settings, load_params
from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.models.significance import diebold_mariano
from stockpredictor.stages.evaluation import PricePredictions, recent_forecasts
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.optimize import optimize
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale
from stockpredictor.stages.train import train

ALL = "optimize.architectures=[lstm,lstm_attention,lstm_cross_attention,gbm,ridge]"
CONFIGS: dict[str, list[str]] = {
    "lstm": ["optimize.warm_start_trials=0"],
    "tabular": ["optimize.architectures=[gbm,ridge]", "optimize.warm_start_trials=0"],
    "all": [ALL, "optimize.warm_start_trials=0"],
    "warm": [ALL],
}


def gate_window_figures(scored: PricePredictions) -> dict[str, float]:
    """Absolute log-return errors of the model and of persistence on the scored cells, and DM p-values."""
    cells = scored.scored
    model = np.abs(np.log(scored.predicted / scored.actual))
    persistence = np.abs(np.log(scored.last_close / scored.actual))
    model, persistence = np.where(cells, model, np.nan), np.where(cells, persistence, np.nan)
    sessions = cells.any(axis=1)
    per_session_model = np.nanmean(model[sessions], axis=1)
    per_session_persistence = np.nanmean(persistence[sessions], axis=1)
    per_ticker = np.nanmean(model, axis=0) / np.nanmean(persistence, axis=0)
    return {
        "pooled_ratio": float(np.nansum(model) / np.nansum(persistence)),
        "ticker_mean_ratio": float(np.mean(per_ticker)),
        "p_better": diebold_mariano(per_session_persistence, per_session_model).p_value,
        "p_worse": diebold_mariano(per_session_model, per_session_persistence).p_value,
        "sessions": float(sessions.sum()),
        "price_mae_ratio": scored.metrics()["mae_ratio"],
    }


def cycle(engine_url: str, settings: Settings, as_of: date, overrides: list[str]) -> dict[str, float]:
    """One training cycle (process, scale, optimize, train) and the candidate on the gate window."""
    params = load_params(overrides=overrides)
    engine = make_engine(engine_url)
    dataset = process(engine, params, as_of).dataset_run_id
    scale(engine, params, dataset)
    wall, cpu = time.perf_counter(), time.process_time()
    searched = optimize(engine, params, dataset)
    trained = train(engine, params, settings, dataset)
    figures = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    model, shape = registry.load_model(f"models:/{params.train.model_name}/{trained.model_version}")
    with engine.connect() as conn:
        scored = recent_forecasts(
            conn, model, dataset, params, as_of, params.promotion.window_days, input_shape=shape
        )
    figures.update(gate_window_figures(scored))
    figures["trials"] = float(searched.n_complete + searched.n_pruned)
    print(
        f"    family {searched.best_params['architecture']}, {int(figures['trials'])} trials "
        f"({searched.n_pruned} pruned), best {searched.best_params}",
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
                    f"gate {int(figures['sessions'])} sessions: abs log-return error ratio "
                    f"{figures['pooled_ratio']:.4f} (ticker mean {figures['ticker_mean_ratio']:.4f}), "
                    f"p(better) {figures['p_better']:.3f}, p(worse) {figures['p_worse']:.3f}, "
                    f"price-MAE ratio {figures['price_mae_ratio']:.4f}",
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
