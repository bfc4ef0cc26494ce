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

from stockpredictor.calendar import trading_days_after
from stockpredictor.config import Params
from stockpredictor.db.events import all_events
from stockpredictor.db.intervals import matured_ranges
from stockpredictor.db.performance import prediction_outcomes
from stockpredictor.db.prices import load_prices, previous_session_closes
from stockpredictor.models.metrics import price_metrics
from stockpredictor.models.retraining_policy import DECISIONS
from stockpredictor.stages.monitor import COVERAGE, MonitorResult
from stockpredictor.stages.predict import PredictResult
from stockpredictor.stages.replay_ranges import calibration_plot, ranges_section
from stockpredictor.stages.training_cycle import TrainingCycleResult

_METRIC_COLUMNS = (
    ("mae", "MAE", "{:.4f}"),
    ("mape", "MAPE %", "{:.3f}"),
    ("directional_accuracy", "dir. acc.", "{:.3f}"),
    ("persistence_mae", "persistence MAE", "{:.4f}"),
    ("persistence_mape", "persistence MAPE %", "{:.3f}"),
    ("always_up_directional_accuracy", "always-up dir. acc.", "{:.3f}"),
    ("last_move_directional_accuracy", "last-move dir. acc.", "{:.3f}"),
    ("mae_ratio", "MAE / persistence", "{:.3f}"),
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
    """Write the CSV of every prediction with its actual close, the Markdown summary and the charts."""
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
    summary.write_text(_summary(outcomes, days, interval_lines))
    evaluated = int(outcomes["actual_close"].notna().sum())
    return ReplayReport(output_dir, csv_path, summary, charts, len(outcomes), evaluated)


def _metrics_row(label: str, rows: pd.DataFrame) -> str:
    evaluated = rows[rows["actual_close"].notna()]
    cells = [label, str(len(rows)), str(len(evaluated))]
    if evaluated.empty:
        return "| " + " | ".join(cells + ["–"] * len(_METRIC_COLUMNS)) + " |"
    metrics = price_metrics(
        *(
            evaluated[c].to_numpy(dtype=np.float64)[:, None]
            for c in ("predicted_close", "actual_close", "last_close", "previous_close")
        )
    )
    return "| " + " | ".join(cells + [fmt.format(metrics[key]) for key, _, fmt in _METRIC_COLUMNS]) + " |"


def _metrics_table(first_header: str, groups: Iterable[tuple[str, pd.DataFrame]]) -> list[str]:
    headers = [first_header, "predictions", "evaluated", *(title for _, title, _ in _METRIC_COLUMNS)]
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" + "---:|" * (len(headers) - 1),
        *(_metrics_row(label, rows) for label, rows in groups),
    ]


def _summary(outcomes: pd.DataFrame, days: list[ReplayDay], interval_lines: list[str]) -> str:
    trainings = [event for d in days for event in d.trainings]
    promoted = [event for event in trainings if event.result.promotion.promoted]
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
        f"- {len(trainings)} training run(s), {len(promoted)} promotion(s)",
        "- Persistence: tomorrow's close = today's. Direction is measured against the last actual close; "
        "persistence never calls a move, so the direction baselines are always up (the share of up days) "
        "and last move (the move into the as-of day, repeated).",
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
            "| day | sessions since the previous training | trigger | dataset | candidate | decision | "
            "production before | reason |",
            "|---|---:|---|---|---:|---|---:|---|",
            *(
                f"| {e.day} | {_sessions_between(previous, e)} | {e.trigger} | {e.result.dataset_run_id} | "
                f"v{e.result.model_version} | {e.result.promotion.decision} | "
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
