"""What every KFP component body needs: params with the pipeline's overrides, settings, store, artifacts."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine

from stockpredictor.config import ConfigError, Params, Settings, load_params

if TYPE_CHECKING:
    from stockpredictor.registry import ModelVersionRef
    from stockpredictor.stages.predict import PredictResult

# What the `production-model` component returns; the daily pipeline bootstraps training on NONE.
PRODUCTION_MODEL_FOUND = "found"
PRODUCTION_MODEL_NONE = "none"


class Artifact(Protocol):
    """The part of a KFP output artifact (`dsl.Dataset`, `dsl.Model`, ...) the components write."""

    path: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class RuntimeContext:
    """Params (params file + overrides), connection settings and, on first use, the migrated store."""

    params: Params
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        from stockpredictor.stages.common import store_engine

        return store_engine(self.settings)


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


def runtime_context(params_overrides: str = "") -> RuntimeContext:
    """Log to stderr, load the params file with the overrides, read the settings from the environment."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    return RuntimeContext(load_params(overrides=parse_overrides(params_overrides)), Settings.from_env())


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
        mlflow_run_id=ref.run_id,
        dataset_run_id=ref.dataset_run_id,
    )


def predictions_markdown(result: PredictResult) -> str:
    """The predictions table shown in the Kubeflow UI."""
    lines = [
        f"### Predicted closes for {result.target_date}",
        f"Model version {result.model_version}, data up to {result.as_of}.",
        "",
        "| ticker | last close | predicted close | change |",
        "|---|---:|---:|---:|",
    ]
    for p in result.predictions:
        change = 100 * (p.predicted_close / p.last_close - 1)
        lines.append(f"| {p.ticker} | {p.last_close:.2f} | {p.predicted_close:.2f} | {change:+.2f}% |")
    return "\n".join(lines) + "\n"
