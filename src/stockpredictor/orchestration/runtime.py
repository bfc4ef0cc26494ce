"""What every KFP component body uses: its task context, params overrides, as_of, and artifact writers.

A component body runs its stage inside `task_context`: an error of the `StockPredictorError` family
ends the task with one line on stderr and the exit code of its kind (see `stockpredictor.errors`);
any other exception shows its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stockpredictor.config import Settings, load_params
from stockpredictor.errors import ConfigError, StockPredictorError
from stockpredictor.failures import reported_as_user_errors

if TYPE_CHECKING:
    from stockpredictor.registry import ModelVersionRef
    from stockpredictor.stages.common import RuntimeContext
    from stockpredictor.stages.predict import PredictResult

# What the `production-model` component returns; the daily pipeline bootstraps training on NONE.
PRODUCTION_MODEL_FOUND = "found"
PRODUCTION_MODEL_NONE = "none"


class Artifact(Protocol):
    """The part of a KFP output artifact (`dsl.Dataset`, `dsl.Model`, ...) the components write."""

    path: str
    metadata: dict[str, Any]


@contextmanager
def reported_errors() -> Iterator[None]:
    """End the task on a `StockPredictorError`: its message as one line on stderr, its kind's exit code."""
    try:
        with reported_as_user_errors():
            yield
    except StockPredictorError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None


@contextmanager
def task_context(params_overrides: str = "") -> Iterator[RuntimeContext]:
    """Log to stderr; the params file with the overrides and the settings from the environment.

    Errors inside the block are reported as `reported_errors` says.
    """
    # Imported here: the store, calendar and source modules are about 0.8 CPU s of a step's start, and
    # `configure`, which only validates the parameters, never needs them.
    from stockpredictor.stages.common import RuntimeContext

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    with reported_errors():
        yield RuntimeContext(load_params(overrides=parse_overrides(params_overrides)), Settings.from_env())


def parse_overrides(params_overrides: str) -> list[str]:
    """The JSON list of `section.key=value` strings a pipeline passes to its components ("" = none)."""
    try:
        overrides = json.loads(params_overrides or "[]")
    except json.JSONDecodeError as exc:
        raise ConfigError(f"params_overrides is not JSON: {exc}") from None
    if not isinstance(overrides, list) or not all(isinstance(item, str) for item in overrides):
        raise ConfigError(
            f"params_overrides must be a JSON list of 'section.key=value' strings, got {overrides!r}"
        )
    return overrides


def merge_overrides(params_overrides: str, tickers: str = "", n_trials: int = 0) -> str:
    """The pipeline parameters as one validated JSON list of overrides (0 trials = keep params.yaml's)."""
    overrides = parse_overrides(params_overrides)
    if tickers.strip():
        overrides.append(f"data.tickers=[{tickers}]")
    if n_trials > 0:
        overrides.append(f"optimize.n_trials={n_trials}")
    load_params(overrides=overrides)
    return json.dumps(overrides)


def parse_as_of(as_of: str) -> date | None:
    """A pipeline's `as_of` parameter: YYYY-MM-DD, or "" for the source's default day."""
    return date.fromisoformat(as_of) if as_of else None


def write_reference(artifact: Artifact, **metadata: Any) -> None:
    """Describe an artifact that points elsewhere (store, registry): metadata, also written as its file."""
    artifact.metadata.update(metadata)
    path = Path(artifact.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metadata, indent=2, default=str) + "\n")


def write_model_reference(artifact: Artifact, ref: ModelVersionRef) -> None:
    """A KFP Model artifact standing for a registered MLflow model version."""
    write_reference(
        artifact,
        model_uri=ref.model_uri,
        model_name=ref.name,
        model_version=ref.version,
        mlflow_run_id=ref.mlflow_run_id,
        dataset_run_id=ref.dataset_run_id,
    )


def predictions_markdown(result: PredictResult) -> str:
    """The predictions table shown in the Kubeflow UI."""
    lines = [
        f"### Predicted closes for {result.target_date}",
        f"Model version {result.model_version}"
        + (f" (the {result.baseline} baseline: no trained model beat it yet)" if result.baseline else "")
        + f", data up to {result.as_of}.",
        "",
        "| ticker | last close | predicted close | change | prediction intervals |",
        "|---|---:|---:|---:|---|",
    ]
    for p in result.predictions:
        ranges = "; ".join(
            f"{float(level):.0%} {low:.2f}..{high:.2f}"
            for level, (low, high) in sorted((p.intervals or {}).items(), key=lambda item: float(item[0]))
        )
        price = f"| {p.ticker} | {p.last_close:.2f} | {p.predicted_close:.2f} | {p.change} |"
        lines.append(f"{price} {ranges or '-'} |")
    lines += [f"\nStale, not predicted: {ticker} {why}." for ticker, why in result.stale.items()]
    return "\n".join(lines) + "\n"
