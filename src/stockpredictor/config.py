"""Parameters from params.yaml (validated) and connection settings from the environment."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stockpredictor.errors import ConfigError

PARAMS_ENV = "STOCKPREDICTOR_PARAMS"
DATABASE_URL_ENV = "STOCKPREDICTOR_DATABASE_URL"
DATA_DIR_ENV = "STOCKPREDICTOR_DATA_DIR"
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"
ALERT_WEBHOOK_ENV = "STOCKPREDICTOR_ALERT_WEBHOOK_URL"
#: The model families of `models.tabular`, and the feature they read the log returns from.
TABULAR_FAMILIES = ("gbm", "ridge")
RETURN_FEATURE = "log_return_1"


_PASSWORD_IN_URL = re.compile(r"(?P<head>://[^/@:]*:)[^/]*@")


_EXPONENT_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def redacted(url: str) -> str:
    """`url` with the password of its `user:password@` part replaced by ***, even when it is malformed."""
    return _PASSWORD_IN_URL.sub(r"\g<head>***@", url)


class _Section(BaseModel):
    # No NaN or infinity anywhere; each bound's `description` says why it is there.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: Trading days in ten years: no window, warm-up or history asked for may be longer.
TEN_YEARS = 2520
_SEED = Field(42, ge=0, le=2**32 - 1, description="numpy and torch take seeds in 0..2**32-1")


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
    warmup_days: int = Field(
        250, ge=50, le=TEN_YEARS, description="50..2520 trading days: EWM indicators converge within 50"
    )

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
    train: float = Field(0.7, gt=0, lt=1, description="a fraction of the windows")
    validation: float = Field(0.15, gt=0, lt=1, description="a fraction of the windows")
    test: float = Field(0.15, gt=0, lt=1, description="a fraction of the windows")

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitParams:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test must sum to 1, got {total:g}")
        return self


class SequenceParams(_Section):
    sequence_length: int = Field(
        30, ge=1, le=1000, description="1..1000 trading days: every window must fit the stored history"
    )
    split: SplitParams = SplitParams()


class OptimizeParams(_Section):
    n_trials: int = Field(20, ge=1, le=10_000, description="1..10000: each trial trains a model")
    max_epochs: int = Field(15, ge=1, le=10_000, description="1..10000 epochs per trial")
    timeout_seconds: int = Field(900, ge=1, le=7 * 86_400, description="1 s..7 days for the whole search")
    # parallel search processes (pipeline pods) sharing the study
    workers: int = Field(1, ge=1, le=64, description="1..64 parallel search processes")
    seed: int = _SEED
    # model families the search chooses from: the LSTMs, gradient-boosted trees, ridge regression
    architectures: tuple[Literal["lstm", "lstm_attention", "lstm_cross_attention", "gbm", "ridge"], ...] = (
        "lstm",
        "lstm_attention",
        "lstm_cross_attention",
    )
    # cross-stock attention runs the LSTM over every ticker's sequence: its epochs grow with the
    # tickers (bench.attention), so the search leaves it out of a dataset with more tickers than this
    cross_attention_max_tickers: int = Field(
        50,
        ge=0,
        le=100_000,
        description="0..100000 tickers up to which the search offers lstm_cross_attention",
    )
    # warm start: the best trials of the previous search are tried first on a new dataset, and the
    # search then runs warm_n_trials trials in all (at most n_trials); 0 disables it
    warm_start_trials: int = Field(3, ge=0, le=100, description="0..100 trials of the previous search")
    warm_n_trials: int = Field(8, ge=1, le=10_000, description="1..10000 trials when warm-started")

    @model_validator(mode="after")
    def _families_known_once(self) -> OptimizeParams:
        if not self.architectures:
            raise ValueError("architectures needs at least one model family")
        if len(set(self.architectures)) != len(self.architectures):
            raise ValueError("architectures must be unique")
        if self.warm_start_trials > self.warm_n_trials:
            raise ValueError(
                f"warm_start_trials ({self.warm_start_trials}) must be <= "
                f"warm_n_trials ({self.warm_n_trials})"
            )
        return self


class TrainParams(_Section):
    max_epochs: int = Field(40, ge=1, le=10_000, description="1..10000 epochs")
    patience: int = Field(5, ge=1, le=10_000, description="1..10000 epochs without improvement")
    seed: int = _SEED
    experiment_name: str = Field(
        "stockpredictor", min_length=1, max_length=500, description="MLflow: 1..500 characters"
    )
    model_name: str = Field(
        "StockPricePredictorLSTM",
        min_length=1,
        max_length=256,
        description="MLflow's rules: 1..256 characters, no '/', ':' or '@', not '.' nor starting with '..'",
    )
    log_test_predictions: bool = True
    min_training_windows: int = Field(
        250,
        ge=1,
        le=TEN_YEARS,
        description="1..2520 windows: a ticker with fewer training samples is served by persistence",
    )

    @field_validator("model_name")
    @classmethod
    def _model_name_registrable(cls, name: str) -> str:
        # MLflow refuses '/', ':' and a name that is not its own normalised path; '@' would end the
        # name early in our models:/NAME@ALIAS URIs.
        if not name.strip() or any(c in name for c in "/:@") or name.startswith("..") or name == ".":
            raise ValueError(f"{name!r} is not a name MLflow can register")
        return name


class PromotionParams(_Section):
    window_days: int = Field(60, ge=1, le=TEN_YEARS, description="1..2520 trading days, ten years")
    evidence_days: int = Field(
        250, ge=0, le=TEN_YEARS, description="0 (off) or window_days..2520 trading days"
    )
    min_improvement: float = Field(0.0, ge=0, lt=1, description="a fraction of production's loss ratio")
    persistence_tolerance: float = Field(
        0.0, ge=0, le=1000, description="0..1000, a fraction of persistence's log-return MAE"
    )
    alpha: float = Field(
        0.05, gt=0, le=1, description="a significance level in (0, 1]; 1 asks for no evidence"
    )
    coverage_alpha: float = Field(0.01, ge=0, le=0.5, description="0 (no coverage test)..0.5")

    @model_validator(mode="after")
    def _evidence_covers_the_window(self) -> PromotionParams:
        if 0 < self.evidence_days < self.window_days:
            raise ValueError(
                f"evidence_days ({self.evidence_days}) must be 0 or >= window_days ({self.window_days})"
            )
        return self

    @property
    def scored_days(self) -> int:
        """Trading days the gate scores the candidate on: the longer of its two windows."""
        return max(self.window_days, self.evidence_days)


class MonitoringParams(_Section):
    """The retraining trigger (significance tests, MAPE guard) and the policy that rations trainings."""

    window_days: int = Field(20, ge=2, le=TEN_YEARS, description="2..2520 evaluated sessions")
    min_evaluations: int = Field(10, ge=1, le=TEN_YEARS, description="1..window_days evaluated sessions")
    alpha: float = Field(0.05, gt=0, le=0.5, description="a significance level in (0, 0.5]")
    max_mape: float = Field(5.0, gt=0, le=100, description="a percentage in (0, 100]")
    guard_min_evaluations: int = Field(2, ge=1, le=TEN_YEARS, description="1..window_days evaluated sessions")
    cooldown_sessions: int = Field(20, ge=0, le=TEN_YEARS, description="0..2520 sessions")
    max_trainings: int = Field(2, ge=1, le=1000, description="1..1000 trainings")
    max_trainings_window_sessions: int = Field(126, ge=1, le=TEN_YEARS, description="1..2520 sessions")
    fresh_evidence_sessions: int = Field(10, ge=1, le=TEN_YEARS, description="1..window_days sessions")

    @model_validator(mode="after")
    def _fits_the_window(self) -> MonitoringParams:
        for name in ("min_evaluations", "guard_min_evaluations", "fresh_evidence_sessions"):
            value = getattr(self, name)
            if value > self.window_days:
                raise ValueError(f"{name} ({value}) must be <= window_days ({self.window_days})")
        return self


class IntervalParams(_Section):
    levels: tuple[float, ...] = Field((0.8, 0.95), min_length=1, description="central levels, each in (0, 1)")
    volatility: Literal["range_mix", "range_ewma", "har", "ewma", "rolling"] = "range_mix"
    history_days: int = Field(
        300, ge=30, le=TEN_YEARS, description="trading days of prices a volatility forecast reads"
    )
    step: float = Field(0.05, gt=0, le=1, description="quantile-tracking rate, in volatility units")
    coverage_alpha: float = Field(0.01, gt=0, le=0.5, description="a significance level")
    recalibration_sessions: int = Field(
        10, ge=1, le=TEN_YEARS, description="sessions after a recalibration before a breach retrains"
    )

    @model_validator(mode="after")
    def _enough_history(self) -> IntervalParams:
        if self.volatility == "har" and self.history_days < 800:
            raise ValueError("volatility har refits on 750 trading days: history_days must be >= 800")
        return self

    @field_validator("levels")
    @classmethod
    def _levels_valid(cls, levels: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < level < 1 for level in levels) or len(set(levels)) != len(levels):
            raise ValueError("levels must be distinct numbers strictly between 0 and 1")
        return tuple(sorted(levels))


class ReportingParams(_Section):
    max_ticker_plots: int = Field(
        12,
        ge=0,
        le=1000,
        description="0..1000 tickers whose test closes a training plots (largest and smallest error)",
    )


class Params(_Section):
    """Everything params.yaml may hold; unknown keys are errors."""

    data: DataParams = DataParams()
    features: FeatureParams = FeatureParams()
    sequences: SequenceParams = SequenceParams()
    optimize: OptimizeParams = OptimizeParams()
    train: TrainParams = TrainParams()
    promotion: PromotionParams = PromotionParams()
    monitoring: MonitoringParams = MonitoringParams()
    intervals: IntervalParams = IntervalParams()
    reporting: ReportingParams = ReportingParams()

    @model_validator(mode="after")
    def _tabular_families_fit_the_features(self) -> Params:
        tabular = [f for f in self.optimize.architectures if f in TABULAR_FAMILIES]
        if tabular and self.features.target != "log_return":
            raise ValueError(f"optimize.architectures {tabular} need features.target log_return")
        if tabular and RETURN_FEATURE not in self.features.indicators:
            raise ValueError(f"optimize.architectures {tabular} need {RETURN_FEATURE} in features.indicators")
        return self


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
    except IsADirectoryError:
        raise ConfigError(f"{file}: is a folder; --params takes a params.yaml file") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the params file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not a text (UTF-8) file; --params takes a params.yaml file") from None
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
    node[leaf] = _number_or_yaml(value)


def _number_or_yaml(value: str) -> Any:
    """`value` parsed as YAML, where `1e9` is a number (YAML 1.1 reads it as a string)."""
    parsed = yaml.safe_load(value)
    if isinstance(parsed, str) and _EXPONENT_NUMBER.fullmatch(parsed.strip()):
        return float(parsed)
    return parsed


def _describe(exc: ValidationError, file: Path) -> str:
    lines = []
    for err in exc.errors():
        path = [str(p) for p in err["loc"] if not isinstance(p, int)]
        key = ".".join(path) or "(top level)"
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        why = _field_description(path)
        if why and err["type"] not in ("extra_forbidden", "missing"):
            message = f"{message} ({why})"
        lines.append(f"{file}: key '{key}': {message}")
    return "\n".join(lines)


def _field_description(path: list[str]) -> str | None:
    """The `description` of the field at `path` in `Params` (what its bounds mean), if it has one."""
    model: Any = Params
    description = None
    for part in path:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model, description = field.annotation, field.description
    return description


@dataclass(frozen=True)
class Settings:
    """Connection settings: environment variables with embedded defaults under the data dir."""

    data_dir: Path
    database_url: str
    mlflow_tracking_uri: str
    alert_webhook_url: str | None = None  # where the pipelines post their alerts (None: only logged)

    @property
    def predictions_dir(self) -> Path:
        return self.data_dir / "predictions"

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of the environment; a malformed URL is a `ConfigError` naming its variable."""
        data_dir = Path(_set_or(DATA_DIR_ENV, "data")).resolve()
        database_url = _set_or(DATABASE_URL_ENV, f"sqlite:///{data_dir / 'stockpredictor.db'}")
        mlflow_uri = _set_or(MLFLOW_URI_ENV, f"sqlite:///{data_dir / 'mlflow.db'}")
        _check_url(DATABASE_URL_ENV, database_url, _STORE_SCHEMES, _STORE_FORMS, any_driver=False)
        _check_url(MLFLOW_URI_ENV, mlflow_uri, _MLFLOW_SCHEMES, _MLFLOW_FORMS, any_driver=True)
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            mlflow_tracking_uri=mlflow_uri,
            alert_webhook_url=os.environ.get(ALERT_WEBHOOK_ENV) or None,
        )


def _set_or(variable: str, default: str) -> str:
    """The value of environment `variable`, `default` when it is unset; set but empty is a `ConfigError`
    (an empty Secret key must not quietly mean the embedded default)."""
    value = os.environ.get(variable)
    if value is None:
        return default
    if not value.strip():
        raise ConfigError(f"{variable} is set but empty: give a value or unset it (default: {default})")
    return value


_STORE_SCHEMES = ("sqlite", "postgresql", "postgres", "sqlite+pysqlite", "postgresql+psycopg2")
_STORE_FORMS = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
_MLFLOW_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "file", "http", "https", "databricks")
_MLFLOW_FORMS = (
    "http(s)://HOST:PORT, sqlite:///PATH, postgresql://USER:PASSWORD@HOST/DATABASE or file:///PATH"
)
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9.+_-]*)://(?P<rest>.*)")


def _check_url(variable: str, url: str, schemes: tuple[str, ...], forms: str, *, any_driver: bool) -> None:
    """Refuse a URL whose form or scheme the store or MLflow cannot use, with the password hidden.

    `any_driver`: a scheme `base+driver` is fine whenever `base` is one of `schemes`.
    """
    problem = _url_problem(url.strip(), schemes, any_driver)
    if problem is not None:
        raise ConfigError(f"{variable}={redacted(url)!r} {problem}: use {forms}")


def _url_problem(url: str, schemes: tuple[str, ...], any_driver: bool) -> str | None:
    match = _URL.fullmatch(url)
    if match is None:
        return "is not a URL"
    scheme = match["scheme"].lower()
    base = scheme.partition("+")[0]
    if scheme not in schemes and not (any_driver and base in schemes):
        return f"has the unsupported scheme {match['scheme']!r}"
    if base == "sqlite":
        return None if match["rest"].startswith("/") else "names no file (sqlite:/// then the path)"
    if base in ("file", "databricks"):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in 0..65535)
    except ValueError as exc:
        return f"is malformed ({exc})"
    return None if parts.hostname else "names no host"
