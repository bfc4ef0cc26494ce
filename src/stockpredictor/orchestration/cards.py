"""The Markdown card of each step on the Kubeflow run page: what the step did and decided, never empty.

One function per stage result; the train card is the training report (`TrainResult.report_markdown`)
and the predict card `runtime.predictions_markdown`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from stockpredictor.models.metrics import shown_accuracy

if TYPE_CHECKING:  # the results' modules import torch and MLflow: a step that only ingests does not
    from stockpredictor.stages.ingest import IngestResult
    from stockpredictor.stages.monitor import MonitorResult
    from stockpredictor.stages.optimize_study import OptimizeResult, SearchHistory
    from stockpredictor.stages.process import ProcessResult
    from stockpredictor.stages.promote import PromotionResult
    from stockpredictor.stages.scale import ScaleResult

#: Refused rows listed one by one on a card; the others are counted.
MAX_LISTED = 20
#: Hyperparameters with a smaller share of the fANOVA importance are not named as having mattered.
MIN_IMPORTANCE = 0.01


def ingest_card(result: IngestResult) -> str:
    """Rows added per ticker with the days they span, failures, and every refused row with its reason."""
    lines = [
        f"# Ingest up to {result.as_of}",
        "",
        f"{result.total_added} new row(s) stored, {len(result.refused)} refused, "
        f"{len(result.errors)} ticker(s) failed.",
        "",
        "| ticker | rows added | new days | refused | error |",
        "|---|---:|---|---:|---|",
    ]
    refused_by = {t: sum(r.ticker == t for r in result.refused) for t in {r.ticker for r in result.refused}}
    for ticker in [*result.added, *(t for t in result.errors if t not in result.added)]:
        span = result.new_days.get(ticker)
        days = f"{span[0]}..{span[1]}" if span else "-"
        lines.append(
            f"| {ticker} | {result.added.get(ticker, '-')} | {days} | {refused_by.get(ticker, 0)} | "
            f"{result.errors.get(ticker, '')} |"
        )
    if result.refused:
        lines += ["", "Refused rows (impossible prices, not stored):", ""]
        lines += [f"- {row}" for row in result.refused[:MAX_LISTED]]
        if len(result.refused) > MAX_LISTED:
            lines.append(f"- ... and {len(result.refused) - MAX_LISTED} more (see the step's log)")
    return "\n".join(lines) + "\n"


def process_card(result: ProcessResult) -> str:
    """The new dataset: id, sessions x tickers x features, and the cells without a row."""
    cells = result.n_days * len(result.tickers)
    share = result.absent_cells / cells if cells else 0.0
    return "\n".join(
        [
            f"# Dataset `{result.dataset_run_id}`",
            "",
            f"{result.n_days} sessions ({result.first_date}..{result.last_date}) x "
            f"{len(result.tickers)} tickers ({', '.join(result.tickers)}) x "
            f"{len(result.feature_columns)} features, data up to {result.as_of}.",
            "",
            f"Absent cells (a ticker without a row on a session; NaN, never filled): "
            f"{result.absent_cells} of {cells} ({share:.1%}).",
            "",
        ]
    )


def scale_card(result: ScaleResult) -> str:
    """Windows per part of the chronological split with the days they end on."""
    lines = [
        f"# Scaled dataset `{result.dataset_run_id}`",
        "",
        f"Windows of {result.sequence_length} sessions; scalers fitted on the training windows only; "
        f"{result.stored_bytes / 1e6:.1f} MB stored.",
        "",
        "| part | windows | first window ends | last window ends |",
        "|---|---:|---|---|",
    ]
    for part in ("train", "validation", "test"):
        first, last = result.window_days[part]
        lines.append(f"| {part} | {getattr(result.split, part)} | {first} | {last} |")
    return "\n".join(lines) + "\n"


def optimize_card(result: OptimizeResult, history: SearchHistory) -> str:
    """Trials complete and pruned, the best value and parameters, and the parameters that mattered."""
    failed = sum(state == "FAIL" for _, state, _ in history.trials)
    weights = [(name, w) for name, w in history.importances.items() if w >= MIN_IMPORTANCE][:5]
    mattered = (
        ", ".join(f"{name} {weight:.2f}" for name, weight in weights)
        if weights
        else "too few complete trials to tell"
    )
    return "\n".join(
        [
            f"# Hyperparameter search `{result.study_name}`",
            "",
            f"{result.n_complete} complete, {result.n_pruned} pruned, {failed} failed trial(s) "
            "(failed: an error, a killed worker's, or a claim beyond the trial budget).",
            "",
            f"Best validation loss {result.best_value:.6g} with:",
            "",
            "| hyperparameter | value |",
            "|---|---|",
            *(f"| {k} | {_shown(v)} |" for k, v in sorted(result.best_params.items())),
            "",
            f"What mattered (fANOVA importance): {mattered}.",
            "",
        ]
    )


def promote_card(result: PromotionResult) -> str:
    """The decision, its reason, and the decision table on the gate window."""
    m = result.metrics
    production = f"version {result.production_version}" if result.production_version else "none"
    lines = [
        f"# Promotion: version {result.candidate_version} {result.decision}",
        "",
        f"Production before: {production}.",
        "",
        f"Reason: {result.reason}",
        "",
    ]
    if "candidate_log_mae" not in m:  # forced, or refused before any scoring
        return "\n".join(lines)
    lines += [
        f"Gate window: {int(m['n_days'])} trading days x {int(m['n_tickers'])} tickers.",
        "",
        "| forecaster | log-return MAE | ratio to persistence | p (beats persistence) | MAE | "
        "directional accuracy |",
        "|---|---:|---:|---:|---:|---:|",
        _gate_row("candidate", m),
    ]
    if "production_log_mae" in m:
        lines.append(_gate_row("production", m))
    lines += [
        f"| persistence | {m['persistence_log_mae']:.6f} | 1 | - | {m['persistence_mae']:.4f} | no call |",
        f"| always up | - | - | - | - | {m['always_up_directional_accuracy']:.3f} |",
        f"| last move | - | - | - | - | {_accuracy(m, 'last_move_directional_accuracy')} |",
        "",
    ]
    return "\n".join(lines)


def _gate_row(who: str, m: Mapping[str, float]) -> str:
    return (
        f"| {who} | {m[f'{who}_log_mae']:.6f} | {m[f'{who}_log_mae_ratio']:.4f} | "
        f"{m.get(f'{who}_loss_p_better', math.nan):.3g} | {m[f'{who}_mae']:.4f} | "
        f"{_accuracy(m, f'{who}_directional_accuracy')} |"
    )


def monitor_card(result: MonitorResult) -> str:
    """The decision, its reason and the window's statistics, whatever serves."""
    lines = [
        f"# Monitor {result.as_of}: {result.decision}",
        "",
        f"Reason: {result.reason}",
        "",
        f"{result.n_new_evaluations} matured prediction(s) evaluated in this run.",
    ]
    if result.demoted_to is not None:
        lines += ["", f"Demoted: the persistence baseline (version {result.demoted_to}) serves production."]
    shown = {k: v for k, v in result.metrics.items() if not k.startswith(_INTERVAL_PREFIXES)}
    if shown:
        lines += ["", "| statistic | value |", "|---|---:|"]
        lines += [f"| {k} | {v:.6g} |" for k, v in sorted(shown.items())]
    else:
        lines += ["", "No evaluated session of the production model in the window yet."]
    return "\n".join(lines) + "\n"


#: Interval statistics are on the monitor's coverage card, not repeated on its summary.
_INTERVAL_PREFIXES = ("coverage_", "width_", "winkler_", "kupiec_", "range_", "qlike", "abs_return_mae")


def _accuracy(metrics: Mapping[str, float], key: str) -> str:
    return shown_accuracy(metrics.get(key, math.nan))


def _shown(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
