"""What each replayed day did, and the replay report: predictions.csv, summary.md, a chart per ticker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from sqlalchemy import Engine

from stockpredictor import registry
from stockpredictor.calendar import trading_days_after
from stockpredictor.config import Params
from stockpredictor.db.events import all_events
from stockpredictor.db.intervals import matured_ranges
from stockpredictor.db.performance import prediction_outcomes
from stockpredictor.db.prices import load_prices, previous_session_closes
from stockpredictor.models.loss import versus_persistence
from stockpredictor.models.metrics import price_metrics, shown_accuracy
from stockpredictor.models.retraining_policy import DECISIONS
from stockpredictor.stages.monitor import COVERAGE, MonitorResult
from stockpredictor.stages.predict import PredictResult
from stockpredictor.stages.replay_ranges import calibration_plot, ranges_section
from stockpredictor.stages.training_cycle import TrainingCycleResult

_CELL_COLUMNS = ("predicted_close", "actual_close", "last_close", "previous_close")

_METRIC_COLUMNS = (
    ("log_mae_ratio", "log-return MAE / persistence", "{:.4f}"),
    ("loss_p_worse", "DM p (worse)", "{:.3g}"),
    ("loss_p_better", "DM p (better)", "{:.3g}"),
    ("mae", "MAE", "{:.4f}"),
    ("mape", "MAPE %", "{:.3f}"),
    ("directional_accuracy", "dir. acc.", "{:.3f}"),
    ("persistence_mae", "persistence MAE", "{:.4f}"),
    ("persistence_mape", "persistence MAPE %", "{:.3f}"),
    ("always_up_directional_accuracy", "always-up dir. acc.", "{:.3f}"),
    ("last_move_directional_accuracy", "last-move dir. acc.", "{:.3f}"),
    ("mae_ratio", "price MAE / persistence", "{:.4f}"),
)


@dataclass(frozen=True)
class TrainingEvent:
    """A run of the training pipeline during the replay, and what triggered it."""

    day: date
    trigger: str
    result: TrainingCycleResult


@dataclass(frozen=True)
class ReplayDay:
    """What the daily pipeline did on one day (no prediction when no model could be promoted yet)."""

    day: date
    prediction: PredictResult | None
    monitor: MonitorResult | None
    trainings: list[TrainingEvent] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class ReplayReport:
    """Where the report went and how much of it was evaluated."""

    output_dir: Path
    predictions_csv: Path
    summary: Path
    charts: list[Path]
    n_predictions: int
    n_evaluated: int


def write_report(engine: Engine, params: Params, days: list[ReplayDay], output_dir: Path) -> ReplayReport:
    """Write the CSV of every prediction with its actual close, the Markdown summary and the charts.

    The registry the replay used must be the tracking one (each model's family is read from its run).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        ranges = matured_ranges(conn, None, days[-1].day)
        alerts = [e for e in all_events(conn) if e.kind == COVERAGE]
        outcomes = prediction_outcomes(conn)
        outcomes["previous_close"] = previous_session_closes(
            conn, zip(outcomes["ticker"], outcomes["as_of_date"], strict=True)
        )
        actual = load_prices(conn, params.data.tickers, days[-1].day, start=days[0].day)
    csv_path = output_dir / "predictions.csv"
    outcomes["family"] = outcomes["model_run_id"].map(
        {run_id: family(registry.run_params(run_id)) for run_id in outcomes["model_run_id"].unique()}
    )
    outcomes.to_csv(csv_path, index=False)
    summary = output_dir / "summary.md"
    charts = [_chart(outcomes, actual[t], t, days, output_dir / f"{t}.png") for t in params.data.tickers]
    interval_lines = ranges_section(ranges, params.intervals.levels)
    if ranges:
        charts.append(calibration_plot(ranges, params.intervals.levels, output_dir / "calibration.png"))
        interval_lines += ["", "![calibration](calibration.png)"]
    interval_lines += ["", "### Coverage alerts", "", *(f"- {e.text}" for e in alerts)]
    if not alerts:
        interval_lines.append("None.")
    summary.write_text(_summary(outcomes, days, params, interval_lines))
    evaluated = int(outcomes["actual_close"].notna().sum())
    return ReplayReport(output_dir, csv_path, summary, charts, len(outcomes), evaluated)


def _evaluated_metrics(rows: pd.DataFrame) -> dict[str, float] | None:
    """Price metrics and the scale-free loss comparison (`models.loss`, sessions = target days) of the
    evaluated rows; None when none is evaluated."""
    evaluated = rows[rows["actual_close"].notna()]
    if evaluated.empty:
        return None
    cells = {c: evaluated[c].to_numpy(dtype=np.float64) for c in _CELL_COLUMNS}
    loss = versus_persistence(
        evaluated["target_date"].to_numpy(),
        cells["predicted_close"],
        cells["actual_close"],
        cells["last_close"],
    )
    return {**price_metrics(*(cells[c][:, None] for c in _CELL_COLUMNS)), **loss.as_metrics()}


def _metrics_row(label: str, rows: pd.DataFrame) -> str:
    metrics = _evaluated_metrics(rows)
    cells = [label, str(len(rows)), str(int(rows["actual_close"].notna().sum()))]
    if metrics is None:
        return "| " + " | ".join(cells + ["–"] * len(_METRIC_COLUMNS)) + " |"
    return (
        "| " + " | ".join(cells + [_shown(key, fmt, metrics[key]) for key, _, fmt in _METRIC_COLUMNS]) + " |"
    )


def _shown(key: str, fmt: str, value: float) -> str:
    """A metric's cell: a directional accuracy that is NaN means the forecasts called no move."""
    return shown_accuracy(value) if key == "directional_accuracy" else fmt.format(value)


def _metrics_table(first_header: str, groups: Iterable[tuple[str, pd.DataFrame]]) -> list[str]:
    headers = [first_header, "predictions", "evaluated", *(title for _, title, _ in _METRIC_COLUMNS)]
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" + "---:|" * (len(headers) - 1),
        *(_metrics_row(label, rows) for label, rows in groups),
    ]


def family(run_params: dict[str, str]) -> str:
    """What kind of forecaster a run logged: its baseline, model family or architecture."""
    return run_params.get("baseline") or run_params.get("family") or run_params.get("architecture", "unknown")


def _served(outcomes: pd.DataFrame) -> list[str]:
    """Which family served how many sessions, and the served forecasts' figures next to the baselines."""
    lines = [
        "| family | versions | sessions served | predictions |",
        "|---|---|---:|---:|",
        *(
            f"| {name} | {', '.join(f'v{v}' for v in sorted(rows['model_version'].unique(), key=int))} | "
            f"{rows['as_of_date'].nunique()} | {len(rows)} |"
            for name, rows in outcomes.groupby("family")
        ),
        "",
    ]
    metrics = _evaluated_metrics(outcomes)
    if metrics is None:
        return [*lines, "No served forecast was evaluated yet."]
    return [
        *lines,
        f"- Scale-free loss (absolute log-return error, every ticker weighing the same in each session): "
        f"{metrics['log_mae_ratio']:.4f}x persistence's over {int(metrics['loss_sessions'])} sessions; "
        f"one-sided Diebold-Mariano p {metrics['loss_p_worse']:.3g} that the served forecasts are worse, "
        f"p {metrics['loss_p_better']:.3g} that they are better",
        f"- Price MAE (secondary, dollars pooled): {metrics['mae_ratio']:.4f}x persistence's",
        f"- Direction: {shown_accuracy(metrics['directional_accuracy'])} (persistence: no call), always up "
        f"{metrics['always_up_directional_accuracy']:.3f}, "
        f"last move {metrics['last_move_directional_accuracy']:.3f}",
    ]


def _demotions_and_defects(days: list[ReplayDay], evidence_window: int) -> list[str]:
    """The monitor's demotions, and any trained model that served while significantly worse than
    persistence for more than `evidence_window` sessions (a defect)."""
    lines = [
        f"- {d.day}: v{_judged_version(days, d)} demoted, the persistence baseline v{d.monitor.demoted_to} "
        f"holds production ({d.monitor.reason})"
        for d in days
        if d.monitor is not None and d.monitor.demoted_to is not None
    ] or ["- no demotion"]
    worse_since: dict[str, int] = {}
    for d in days:
        served = d.prediction
        if served is not None and served.baseline is None and served.mlflow_run_id in worse_since:
            worse_since[served.mlflow_run_id] += 1
        if d.monitor is not None and d.monitor.worse_than_persistence and d.monitor.mlflow_run_id:
            worse_since.setdefault(d.monitor.mlflow_run_id, 0)
    defects = {run: n for run, n in worse_since.items() if n > evidence_window}
    lines += [
        f"- DEFECT: the model of MLflow run {run} served {n} sessions after the monitor found it "
        "significantly "
        f"worse than persistence (> evidence window {evidence_window})"
        for run, n in defects.items()
    ] or [
        f"- no trained model served more than {evidence_window} sessions (monitoring.window_days) while "
        "significantly worse than persistence"
    ]
    return lines


def _judged_version(days: list[ReplayDay], day: ReplayDay) -> str:
    """The version of the model the monitor judged on `day` (from the day's prediction)."""
    run = day.monitor.mlflow_run_id if day.monitor else None
    versions = {d.prediction.mlflow_run_id: d.prediction.model_version for d in days if d.prediction}
    return str(versions.get(run, "?")) if run else "?"


def _summary(outcomes: pd.DataFrame, days: list[ReplayDay], params: Params, interval_lines: list[str]) -> str:
    trainings = [event for d in days for event in d.trainings]
    promoted = [event for event in trainings if event.result.promotion.promoted]
    decisions = [event.result.promotion.decision for event in trainings]
    demoted = [d for d in days if d.monitor is not None and d.monitor.demoted_to is not None]
    daily_seconds = [d.seconds for d in days if not d.trainings]
    total = sum(d.seconds for d in days)
    lines = [
        f"# Replay {days[0].day} .. {days[-1].day}",
        "",
        f"- {len(days)} trading days in {total:.1f} s ({60 * len(days) / total:.1f} days/minute); "
        + (
            f"{np.mean(daily_seconds):.2f} s per day without training"
            if daily_seconds
            else "every day ran the training pipeline"
        ),
        f"- {len(outcomes)} predictions, {int(outcomes['actual_close'].notna().sum())} evaluated against the "
        "actual close (the last day's targets lie after the range)",
        f"- {len(trainings)} training run(s): "
        + ", ".join(f"{n} {decision}" for decision, n in Counter(decisions).items())
        + (f"; {len(demoted)} demotion(s)" if demoted else "; no demotion")
        + f" ({len(promoted)} promotion(s))",
        "- Persistence: tomorrow's close = today's. Direction is measured against the last actual close; "
        "persistence never calls a move (no call), so the direction baselines are always up (the share of up "
        "days) and last move (the move into the as-of day, repeated).",
        "",
        "## Served forecasts",
        "",
        *_served(outcomes),
        "",
        "## Demotions (evidence window: monitoring.window_days)",
        "",
        *_demotions_and_defects(days, params.monitoring.window_days),
        "",
        "## Per model (over the replayed range)",
        "",
        *_metrics_table(
            "model version",
            [
                *((f"v{v}", rows) for v, rows in outcomes.groupby("model_version", sort=False)),
                ("all", outcomes),
            ],
        ),
        "",
        "## Per ticker (all models)",
        "",
        *_metrics_table("ticker", ((str(t), rows) for t, rows in outcomes.groupby("ticker"))),
        "",
        "## Prediction intervals",
        "",
        *interval_lines,
        "",
        "## Retrain events and promotions",
        "",
    ]
    if trainings:
        lines += [
            "| day | sessions since the previous training | trigger | dataset | candidate | "
            "gate: log-return MAE / persistence | gate: DM p (better) | evidence window: MAE / persistence "
            "| evidence window: DM p (better) | not served by the model | decision | production before "
            "| reason |",
            "|---|---:|---|---|---:|---:|---:|---:|---:|---|---|---:|---|",
            *(
                f"| {e.day} | {_sessions_between(previous, e)} | {e.trigger} | {e.result.dataset_run_id} | "
                f"v{e.result.model_version} | {_gate_figures(e.result.promotion.metrics)} | "
                f"{', '.join(e.result.persistence_tickers) or '–'} | {e.result.promotion.decision} | "
                f"{_version(e.result.promotion.production_version)} | {e.result.promotion.reason} |"
                for previous, e in zip([None, *trainings], trainings, strict=False)
            ),
        ]
    else:
        lines.append("No training during the replay.")
    lines += ["", "## Monitor decisions", "", *_decision_counts(days)]
    lines += [
        "",
        "## Days",
        "",
        "| day | model | target day | monitor | reason | seconds |",
        "|---|---:|---|---|---|---:|",
        *(
            f"| {d.day} | {_version(d.prediction.model_version if d.prediction else None)} | "
            f"{d.prediction.target_date if d.prediction else '–'} | "
            f"{d.monitor.decision if d.monitor else '–'} | {d.monitor.reason if d.monitor else 'no model'} | "
            f"{d.seconds:.2f} |"
            for d in days
        ),
        "",
    ]
    return "\n".join(lines)


def _gate_figures(metrics: dict[str, float]) -> str:
    """The candidate's loss ratio and p-value (better than persistence) in the gate's recent window and
    over its evidence window, four cells ("–" where not scored)."""
    return " | ".join(
        f"{metrics[f'{prefix}log_mae_ratio']:.4f} | {metrics[f'{prefix}loss_p_better']:.3g}"
        if f"{prefix}log_mae_ratio" in metrics
        else "– | –"
        for prefix in ("candidate_", "candidate_evidence_")
    )


def _sessions_between(previous: TrainingEvent | None, event: TrainingEvent) -> str:
    return "–" if previous is None else str(trading_days_after(previous.day, event.day))


def _decision_counts(days: list[ReplayDay]) -> list[str]:
    """How many days ended in each monitor decision (retrain, ok, suppressed by cooldown, ...)."""
    counts = Counter(d.monitor.decision for d in days if d.monitor)
    return [
        "| decision | days |",
        "|---|---:|",
        *(f"| {decision} | {counts[decision]} |" for decision in DECISIONS if counts[decision]),
    ]


def _version(version: int | None) -> str:
    return f"v{version}" if version is not None else "–"


def _chart(
    outcomes: pd.DataFrame, actual: pd.DataFrame, ticker: str, days: list[ReplayDay], path: Path
) -> Path:
    figure = Figure(figsize=(10, 4.5))
    axes = figure.subplots()
    axes.plot(actual.index, actual["close"], color="black", linewidth=1.5, label="actual close")
    mine = outcomes[outcomes["ticker"] == ticker]
    for version, rows in mine.groupby("model_version", sort=False):
        axes.plot(
            pd.to_datetime(rows["target_date"]),
            rows["predicted_close"],
            marker="o",
            markersize=3,
            linewidth=0.8,
            label=f"predicted (v{version})",
        )
    for day in days:
        for event in day.trainings:
            promoted = event.result.promotion.promoted
            axes.axvline(
                date2num(event.day),
                color="tab:red" if promoted else "tab:gray",
                linestyle="--" if promoted else ":",
                linewidth=1,
                label=f"retrain ({'promoted' if promoted else 'rejected'})",
            )
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes.legend(unique.values(), unique.keys(), fontsize=8, loc="best")
    axes.set_title(f"{ticker}: next-day close, actual vs predicted ({days[0].day} .. {days[-1].day})")
    axes.set_ylabel("close")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
