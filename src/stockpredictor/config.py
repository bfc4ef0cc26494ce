"""Parameters from params.yaml (validated) and connection settings from the environment."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stockpredictor.errors import ConfigError

PARAMS_ENV = "STOCKPREDICTOR_PARAMS"
DATABASE_URL_ENV = "STOCKPREDICTOR_DATABASE_URL"
DATA_DIR_ENV = "STOCKPREDICTOR_DATA_DIR"
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"


_PASSWORD_IN_URL = re.compile(r"(?P<head>://[^/@:]*:)[^/]*@")


def redacted(url: str) -> str:
    """`url` with the password of its `user:password@` part replaced by ***, even when it is malformed."""
    return _PASSWORD_IN_URL.sub(r"\g<head>***@", url)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    source: Literal["sample", "yahoo"] = "sample"
    tickers: tuple[str, ...] = ("AAPL", "GOOG", "IBM", "MSFT")
    start: date = date(2000, 1, 1)

    @field_validator("tickers")
    @classmethod
    def _tickers_valid(cls, tickers: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(t.strip().upper() for t in tickers)
        if not cleaned:
            raise ValueError("at least one ticker is required")
        if any(not t for t in cleaned):
            raise ValueError("tickers must not be empty strings")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("tickers must be unique")
        return cleaned


class FeatureParams(_Section):
    target: Literal["log_return", "close"] = "log_return"
    indicators: tuple[str, ...] = (
        "log_return_1",
        "log_return_5",
        "rsi_14",
        "macd_diff",
        "bb_pband",
        "bb_wband",
        "atr_14",
        "stoch_k",
        "volatility_20",
        "volume_z_20",
        "sma_ratio_20",
    )
    warmup_days: int = Field(250, ge=50)

    @field_validator("indicators")
    @classmethod
    def _indicators_known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        from stockpredictor.features.indicators import INDICATORS

        unknown = [n for n in names if n not in INDICATORS]
        if unknown:
            raise ValueError(f"unknown indicator(s) {unknown}; choose from {sorted(INDICATORS)}")
        if not names:
            raise ValueError("at least one indicator is required")
        if len(set(names)) != len(names):
            raise ValueError("indicators must be unique")
        return names


class SplitParams(_Section):
    train: float = Field(0.7, gt=0, lt=1)
    validation: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitParams:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test must sum to 1, got {total:g}")
        return self


class SequenceParams(_Section):
    sequence_length: int = Field(30, ge=1, le=1000)
    split: SplitParams = SplitParams()


class OptimizeParams(_Section):
    n_trials: int = Field(20, ge=1)
    max_epochs: int = Field(15, ge=1)
    timeout_seconds: int = Field(900, ge=1)
    workers: int = Field(1, ge=1)  # parallel search processes (pipeline pods) sharing the study
    seed: int = 42
    architectures: tuple[Literal["lstm", "lstm_attention", "lstm_cross_attention"], ...] = (
        "lstm",
        "lstm_attention",
        "lstm_cross_attention",
    )


class TrainParams(_Section):
    max_epochs: int = Field(40, ge=1)
    patience: int = Field(5, ge=1)
    seed: int = 42
    experiment_name: str = "stockpredictor"
    model_name: str = "StockPricePredictorLSTM"
    log_test_predictions: bool = True


class PromotionParams(_Section):
    window_days: int = Field(60, ge=1)
    min_improvement: float = Field(0.0, ge=0, lt=1)
    persistence_tolerance: float = Field(0.05, ge=0)


class ServingParams(_Section):
    max_stale_trading_days: int = Field(3, ge=0)


class MonitoringParams(_Section):
    window_days: int = Field(20, ge=1)
    min_evaluations: int = Field(5, ge=1)
    max_mape: float = Field(5.0, gt=0)
    min_directional_accuracy: float = Field(0.45, ge=0, le=1)
    max_mae_ratio_to_persistence: float = Field(1.25, gt=0)


class Params(_Section):
    """Everything params.yaml may hold; unknown keys are errors."""

    data: DataParams = DataParams()
    features: FeatureParams = FeatureParams()
    sequences: SequenceParams = SequenceParams()
    optimize: OptimizeParams = OptimizeParams()
    train: TrainParams = TrainParams()
    promotion: PromotionParams = PromotionParams()
    serving: ServingParams = ServingParams()
    monitoring: MonitoringParams = MonitoringParams()


def default_params_path() -> Path:
    """The params file used when none is given: $STOCKPREDICTOR_PARAMS or ./params.yaml."""
    return Path(os.environ.get(PARAMS_ENV, "params.yaml"))


def load_params(path: Path | str | None = None, overrides: list[str] | None = None) -> Params:
    """Read, override (`section.key=value`, value parsed as YAML) and validate the params file."""
    file = Path(path) if path is not None else default_params_path()
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{file}: params file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping of sections at the top level")
    for override in overrides or []:
        _apply_override(raw, override, file)
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, file)) from None


def _apply_override(raw: dict[str, Any], override: str, file: Path) -> None:
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{file}: override {override!r} must look like section.key=value")
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{file}: override {key!r}: {part!r} is not a section")
        node = child
    node[leaf] = yaml.safe_load(value)


def _describe(exc: ValidationError, file: Path) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "(top level)"
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{file}: key '{key}': {message}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Settings:
    """Connection settings: environment variables with embedded defaults under the data dir."""

    data_dir: Path
    database_url: str
    mlflow_tracking_uri: str

    @property
    def predictions_dir(self) -> Path:
        return self.data_dir / "predictions"

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get(DATA_DIR_ENV, "data")).resolve()
        return cls(
            data_dir=data_dir,
            database_url=os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{data_dir / 'stockpredictor.db'}",
            mlflow_tracking_uri=os.environ.get(MLFLOW_URI_ENV) or f"sqlite:///{data_dir / 'mlflow.db'}",
        )
