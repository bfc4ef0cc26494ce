"""The distribution around each forecast, shared by `predict`, `monitor` and the replay report.

- `forecast_ranges` (predict): each ticker's next-session volatility from its stored OHLC up to the
  as-of day (`intervals.volatility`), the EWMA and rolling baselines' volatilities, and the served
  intervals `center ± q·σ` in log returns with the model version's calibrated multipliers `q`.
- `check_coverage` (monitor): folds every matured forecast of the served version into its calibration
  state (quantile tracking: a forecast made on day D used only targets <= D, and is folded in once
  its target has passed), then scores the window: coverage overall and per ticker, width and the
  Winkler score of the model and of the baselines (same center, normal multiplier), and Kupiec's
  test per level. A breach (coverage significantly below the level) is decided `recalibrate`: the
  quantile tracking, which raises q with every miss, is given `recalibration_sessions` sessions to
  restore coverage; a breach again on sessions all after that recent recalibration also retrains.
- `gate_coverage` (promote): the candidate's coverage on the gate's window.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from stockpredictor.calendar import trading_days, trading_days_after
from stockpredictor.config import IntervalParams, Params
from stockpredictor.db.intervals import (
    CalibrationState,
    MaturedRange,
    calibration_states,
    matured_ranges,
    save_calibration,
)
from stockpredictor.db.prices import load_prices
from stockpredictor.models.intervals import (
    interval_scores,
    log_bounds,
    normal_multiplier,
    price_bounds,
    scores,
    track_quantile,
)
from stockpredictor.models.retraining_policy import RECALIBRATE, RETRAIN
from stockpredictor.models.volatility import (
    ESTIMATORS,
    abs_return_mae,
    ewma_volatility,
    qlike,
    rolling_volatility,
)
from stockpredictor.stages.evaluation import PricePredictions

#: The volatility baselines every forecast carries (their intervals use the normal multiplier).
BASELINES = ("ewma", "rolling")


def level_key(level: float) -> str:
    """How a level is named in stored JSON and metric names: 0.8 -> "0.8"."""
    return f"{level:g}"


@dataclass(frozen=True)
class ForecastRange:
    """One ticker's volatility forecast, served intervals (price bounds per level) and baselines."""

    volatility: float
    intervals: dict[str, list[float]]
    baseline_volatility: dict[str, float]


def forecast_ranges(
    conn: Connection,
    params: Params,
    model_version: str,
    last_day: date,
    last_close: dict[str, float],
    predicted_close: dict[str, float],
) -> dict[str, ForecastRange]:
    """The range of each ticker's forecast made on `last_day` (a ticker without enough history: none)."""
    rules = params.intervals
    tickers = list(last_close)
    states = calibration_states(  # what the monitor had folded before `last_day`: a rerun gets the same
        conn, params.train.model_name, model_version, tickers, _defaults(rules), last_day - timedelta(days=1)
    )
    prices = load_prices(conn, tickers, last_day, start=_history_start(last_day, rules.history_days))
    ranges = {}
    for ticker in tickers:
        frame = prices[ticker]
        if frame.empty or frame.index[-1].date() != last_day:
            continue
        o, h, lo, c = (frame[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
        volatility = float(ESTIMATORS[rules.volatility](o, h, lo, c)[-1])
        if not math.isfinite(volatility) or volatility <= 0:
            continue
        baselines = {"ewma": float(ewma_volatility(c)[-1]), "rolling": float(rolling_volatility(c)[-1])}
        if not all(math.isfinite(v) for v in baselines.values()):
            continue
        center = math.log(predicted_close[ticker] / last_close[ticker])
        ranges[ticker] = ForecastRange(
            volatility=volatility,
            intervals={
                level_key(level): price_bounds(
                    last_close[ticker],
                    log_bounds(center, volatility, states[ticker, level].multiplier),
                ).tolist()
                for level in rules.levels
            },
            baseline_volatility=baselines,
        )
    return ranges


def _defaults(rules: IntervalParams) -> dict[float, float]:
    return {level: normal_multiplier(level) for level in rules.levels}


def _history_start(day: date, n_trading_days: int) -> date:
    sessions = trading_days(day - timedelta(days=2 * n_trading_days + 30), day)
    return sessions[-min(n_trading_days, len(sessions))]


def gate_coverage(
    conn: Connection, params: Params, forecasts: PricePredictions, model_version: str
) -> dict[str, float]:
    """Coverage and Kupiec p per level of a candidate's intervals on the gate's window of forecasts.

    Each scored cell gets the volatility forecast of its as-of day and the multiplier the version
    would start from (`calibration_states`: its own, else the one it replaces, else normal). Keys
    `gate_coverage_0.8`, `gate_kupiec_p_0.8`, ...
    """
    rules = params.intervals
    tickers = list(forecasts.tickers)
    first = forecasts.as_of_dates[0]
    states = calibration_states(  # as known before the window's first forecast
        conn, params.train.model_name, model_version, tickers, _defaults(rules), first - timedelta(days=1)
    )
    prices = load_prices(
        conn, tickers, forecasts.as_of_dates[-1], start=_history_start(first, rules.history_days)
    )
    volatility = np.full(forecasts.scored.shape, np.nan)
    for j, ticker in enumerate(tickers):
        frame = prices[ticker]
        o, h, lo, c = (frame[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
        days = pd.DatetimeIndex(frame.index).date
        by_day = dict(zip(days, ESTIMATORS[rules.volatility](o, h, lo, c), strict=True))
        volatility[:, j] = [by_day.get(day, np.nan) for day in forecasts.as_of_dates]
    cells = forecasts.scored & np.isfinite(volatility)
    last = forecasts.last_close[cells]
    actual = np.log(forecasts.actual[cells] / last)
    center = np.log(forecasts.predicted[cells] / last)
    out: dict[str, float] = {}
    for level in rules.levels:
        multiplier = np.array([states[tickers[j], level].multiplier for j in np.nonzero(cells)[1]])
        result = interval_scores(log_bounds(center, volatility[cells], multiplier), actual, level)
        out |= {
            f"gate_coverage_{level_key(level)}": result.coverage,
            f"gate_kupiec_p_{level_key(level)}": result.kupiec_p_value,
        }
    return out


@dataclass(frozen=True)
class CoverageCheck:
    """The window's interval statistics and what the coverage asks for (`action` None: nothing)."""

    statistics: dict[str, float]
    action: str | None = None  # "recalibrate" | "retrain"
    reason: str = ""


def check_coverage(conn: Connection, params: Params, mlflow_run_id: str, as_of: date) -> CoverageCheck:
    """Update the served model's calibration with its matured forecasts, score the window, judge coverage."""
    rules, window_days = params.intervals, params.monitoring.window_days
    every = matured_ranges(conn, mlflow_run_id, as_of)
    if not every:
        return CoverageCheck({})
    version = every[-1].model_version
    states = _folded(conn, params, version, every, as_of)
    window_days_seen = sorted({r.target_date for r in every})[-window_days:]
    window = [r for r in every if r.target_date >= window_days_seen[0]]
    statistics = range_statistics(window, rules.levels)
    since = max((s.recalibrated_on for s in states.values() if s.recalibrated_on), default=None)
    recent = since is not None and trading_days_after(since, as_of) <= window_days
    fresh = [r for r in window if since is None or r.target_date > since]
    n_fresh = len({r.target_date for r in fresh})
    needed = rules.recalibration_sessions if recent else params.monitoring.min_evaluations
    if n_fresh < needed:
        save_calibration(conn, params.train.model_name, version, states.values())
        return CoverageCheck(statistics)
    tested = range_statistics(fresh, rules.levels)
    breached = [  # too narrow; too wide is wasteful but safe, and quantile tracking narrows it
        level
        for level in rules.levels
        if tested[f"kupiec_p_{level_key(level)}"] < rules.coverage_alpha
        and tested[f"coverage_{level_key(level)}"] < level
    ]
    if not breached:
        save_calibration(conn, params.train.model_name, version, states.values())
        return CoverageCheck(statistics)
    what = ", ".join(
        f"{level:.0%} interval covered {tested[f'coverage_{level_key(level)}']:.3f} "
        f"(Kupiec p={tested[f'kupiec_p_{level_key(level)}']:.2g})"
        for level in breached
    )
    recalibrated = _recalibrated(states, breached, as_of)
    save_calibration(conn, params.train.model_name, version, recalibrated.values())
    breach = f"coverage breach over {n_fresh} session(s) to {as_of}: {what}; recalibrated"
    if recent:  # the version (or the one it replaces) gets the new multipliers until a retraining lands
        return CoverageCheck(statistics, RETRAIN, f"{breach} again after a recalibration on {since}")
    return CoverageCheck(statistics, RECALIBRATE, breach)


def _folded(
    conn: Connection, params: Params, version: str, matured: list[MaturedRange], as_of: date
) -> dict[tuple[str, float], CalibrationState]:
    """The version's states on `as_of` with every matured forecast after each `through_date` folded in."""
    rules = params.intervals
    tickers = sorted({r.ticker for r in matured})
    states = calibration_states(conn, params.train.model_name, version, tickers, _defaults(rules), as_of)
    by_ticker: dict[str, list[MaturedRange]] = defaultdict(list)
    for r in matured:
        by_ticker[r.ticker].append(r)
    for (ticker, level), state in states.items():
        new = [
            r for r in by_ticker[ticker] if state.through_date is None or r.target_date > state.through_date
        ]
        if not new:
            continue
        misses = np.array([_missed(r, level_key(level)) for r in new])
        states[ticker, level] = replace(
            state,
            multiplier=track_quantile(state.multiplier, misses, level, rules.step),
            n_updates=state.n_updates + len(new),
            through_date=new[-1].target_date,
        )
    return states


def _missed(r: MaturedRange, key: str) -> bool:
    lower, upper = r.intervals[key]
    return not lower <= r.actual_close <= upper


def _recalibrated(
    states: dict[tuple[str, float], CalibrationState], levels: list[float], as_of: date
) -> dict[tuple[str, float], CalibrationState]:
    """The breached levels' states marked recalibrated on `as_of`.

    Their multipliers already folded in the breach's misses (quantile tracking raises q by
    step · (1 − α) per miss); measured on the sample, also resetting q to the quantile of the judged
    scores overshoots and then decays at step · α per covered forecast, too slowly at 95 %
    (`bench/intervals.py`). The mark starts the `recalibration_sessions` after which a breach retrains.
    """
    return {
        key: replace(state, recalibrated_on=as_of) if key[1] in levels else state
        for key, state in states.items()
    }


def _log_return(values: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    return np.log(values / last_close)


def _scores(rows: list[MaturedRange]) -> np.ndarray:
    last = np.array([r.last_close for r in rows])
    return scores(
        _log_return(np.array([r.actual_close for r in rows]), last),
        _log_return(np.array([r.predicted_close for r in rows]), last),
        np.array([r.volatility for r in rows]),
    )


def range_statistics(rows: list[MaturedRange], levels: tuple[float, ...]) -> dict[str, float]:
    """Coverage (overall and per ticker), width, Winkler score and Kupiec p per level, model and baselines.

    Widths and scores are in log-return units (comparable across tickers); a baseline's interval is
    the same center ± the normal multiplier times its volatility. Keys: `coverage_0.8`,
    `coverage_0.8_AAPL`, `width_0.8`, `winkler_0.8`, `kupiec_p_0.8`, `winkler_0.8_ewma`, ...
    """
    if not rows:
        return {}
    last = np.array([r.last_close for r in rows])
    actual = _log_return(np.array([r.actual_close for r in rows]), last)
    center = _log_return(np.array([r.predicted_close for r in rows]), last)
    tickers = np.array([r.ticker for r in rows])
    out: dict[str, float] = {"range_n": float(len(rows))}
    volatilities = {"": np.array([r.volatility for r in rows])} | {
        f"_{name}": np.array([r.baseline_volatility[name] for r in rows]) for name in BASELINES
    }
    for suffix, volatility in volatilities.items():
        out[f"qlike{suffix}"] = qlike(volatility, actual)
        out[f"abs_return_mae{suffix}"] = abs_return_mae(volatility, actual)
    for level in levels:
        key = level_key(level)
        served = np.log(np.array([r.intervals[key] for r in rows]) / last[:, None])
        result = interval_scores(served, actual, level)
        out |= {
            f"coverage_{key}": result.coverage,
            f"width_{key}": result.mean_width,
            f"winkler_{key}": result.winkler,
            f"kupiec_p_{key}": result.kupiec_p_value,
        }
        for ticker in sorted(set(tickers)):
            mine = tickers == ticker
            out[f"coverage_{key}_{ticker}"] = interval_scores(served[mine], actual[mine], level).coverage
        for name in BASELINES:
            volatility = np.array([r.baseline_volatility[name] for r in rows])
            baseline = interval_scores(
                log_bounds(center, volatility, normal_multiplier(level)), actual, level
            )
            out |= {
                f"coverage_{key}_{name}": baseline.coverage,
                f"width_{key}_{name}": baseline.mean_width,
                f"winkler_{key}_{name}": baseline.winkler,
            }
    return out


def coverage_table(statistics: dict[str, float], levels: tuple[float, ...]) -> list[str]:
    """Markdown rows of `range_statistics`: coverage overall and per ticker, width, Winkler vs baselines.

    Widths and scores in log-return percent; "vs" columns are the served score's improvement.
    """
    first = f"coverage_{level_key(levels[0])}_"
    tickers = sorted({k.removeprefix(first) for k in statistics if k.startswith(first)} - set(BASELINES))
    lines = [
        "| level | coverage | " + " | ".join(tickers) + " | width | Winkler | Winkler EWMA | Winkler rolling "
        "| vs rolling | vs EWMA | Kupiec p | coverage EWMA | coverage rolling |",
        "|---" + "|---:" * (len(tickers) + 10) + "|",
    ]
    for level in levels:
        k = level_key(level)
        winkler = statistics[f"winkler_{k}"]
        lines.append(
            f"| {level:.0%} | {statistics[f'coverage_{k}']:.3f} | "
            + " | ".join(f"{statistics[f'coverage_{k}_{t}']:.3f}" for t in tickers)
            + f" | {100 * statistics[f'width_{k}']:.3f} | {100 * winkler:.3f} | "
            f"{100 * statistics[f'winkler_{k}_ewma']:.3f} | {100 * statistics[f'winkler_{k}_rolling']:.3f} | "
            f"{1 - winkler / statistics[f'winkler_{k}_rolling']:+.1%} | "
            f"{1 - winkler / statistics[f'winkler_{k}_ewma']:+.1%} | "
            f"{statistics.get(f'kupiec_p_{k}', math.nan):.3g} | {statistics[f'coverage_{k}_ewma']:.3f} | "
            f"{statistics[f'coverage_{k}_rolling']:.3f} |"
        )
    return lines
