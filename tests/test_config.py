"""params.yaml validation: typos, wrong types and impossible values fail at load, naming key and file."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from stockpredictor.config import ConfigError, Settings, load_params
from tests.conftest import REPO


def write_params(tmp_path: Path, **sections: object) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for dotted, value in sections.items():
        section, key = dotted.split("__")
        raw.setdefault(section, {})[key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_repository_params_load() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.data.tickers == ("AAPL", "GOOG", "IBM", "MSFT")
    assert params.sequences.sequence_length > 0


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [
        ({"data__tikers": ["AAPL"]}, "data.tikers", "unknown key"),
        ({"sequences__sequence_length": 0}, "sequences.sequence_length", "greater than or equal to 1"),
        ({"sequences__sequence_length": "long"}, "sequences.sequence_length", "integer"),
        ({"data__tickers": []}, "data.tickers", "at least one ticker"),
        ({"data__source": "bloomberg"}, "data.source", "'sample' or 'yahoo'"),
        ({"features__indicators": ["rsi_14", "psar"]}, "features.indicators", "psar"),
        ({"sequences__split": {"train": 0.7, "validation": 0.2, "test": 0.2}}, "sequences.split", "sum to 1"),
        ({"monitoring__alpha": 0}, "monitoring.alpha", "greater than 0"),
        ({"monitoring__alpha": 0.6}, "monitoring.alpha", "less than or equal to 0.5"),
        ({"monitoring__max_mape": float("inf")}, "monitoring.max_mape", "finite number"),
        ({"monitoring__cooldown_sessions": -1}, "monitoring.cooldown_sessions", "greater than or equal to 0"),
        ({"monitoring__max_trainings": 0}, "monitoring.max_trainings", "greater than or equal to 1"),
        (
            {"monitoring__fresh_evidence_sessions": 21},
            "monitoring",
            "fresh_evidence_sessions (21) must be <=",
        ),
        (
            {"monitoring__min_directional_accuracy": 0.45},
            "monitoring.min_directional_accuracy",
            "unknown key",
        ),
        (
            {"promotion__persistence_tolerance": -0.1},
            "promotion.persistence_tolerance",
            "greater than or equal",
        ),
    ],
)
def test_bad_params_name_key_and_file(
    tmp_path: Path, edit: dict[str, object], key: str, message: str
) -> None:
    path = write_params(tmp_path, **edit)
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(path) in str(info.value)
    assert f"'{key}'" in str(info.value)
    assert message in str(info.value)


def test_overrides_are_validated_too() -> None:
    params = load_params(REPO / "params.yaml", ["data.tickers=[IBM]", "sequences.sequence_length=5"])
    assert params.data.tickers == ("IBM",)
    assert params.sequences.sequence_length == 5
    with pytest.raises(ConfigError, match=r"'optimize\.n_trails': unknown key"):
        load_params(REPO / "params.yaml", ["optimize.n_trails=3"])


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_settings_default_under_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPREDICTOR_DATA_DIR", str(tmp_path))
    settings = Settings.from_env()
    assert settings.database_url == f"sqlite:///{tmp_path / 'stockpredictor.db'}"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("STOCKPREDICTOR_DATABASE_URL", "postgresql://u@h/db")
    assert Settings.from_env().database_url == "postgresql://u@h/db"


def test_params_file_holds_no_connection_secrets() -> None:
    text = (REPO / "params.yaml").read_text().lower()
    assert "password" not in text and "://" not in text


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("features.warmup_days=1e9", "less than or equal to 2520 (50..2520 trading days"),
        (
            "promotion.persistence_tolerance=.inf",
            "finite number (0..1000, a fraction of persistence's log-return MAE)",
        ),
        ("monitoring.max_mape=.nan", "finite number (a percentage in (0, 100])"),
        ("optimize.n_trials=1e12", "less than or equal to 10000 (1..10000: each trial trains a model)"),
        ("sequences.sequence_length=1e9", "less than or equal to 1000 (1..1000 trading days"),
        ("promotion.window_days=1e9", "less than or equal to 2520 (1..2520 trading days, ten years)"),
        ("monitoring.window_days=1e9", "less than or equal to 2520"),
        ("optimize.timeout_seconds=1e12", "1 s..7 days"),
        ("train.seed=-1", "seeds in 0..2**32-1"),
        ("sequences.split.train=.nan", "finite number"),
        ("intervals.levels=[0.8,1.0]", "strictly between 0 and 1"),
        ("intervals.coverage_alpha=0", "greater than 0 (a significance level)"),
    ],
)
def test_absurd_and_non_finite_values_are_refused_with_their_bounds(override: str, message: str) -> None:
    key = override.partition("=")[0]
    with pytest.raises(ConfigError) as info:
        load_params(REPO / "params.yaml", [override])
    assert f"key '{key}': " in str(info.value) and message in str(info.value)


def test_har_volatility_needs_the_history_it_refits_on() -> None:
    with pytest.raises(ConfigError, match=r"key 'intervals': .*history_days must be >= 800"):
        load_params(REPO / "params.yaml", ["intervals.volatility=har"])
    assert load_params(REPO / "params.yaml", ["intervals.volatility=har", "intervals.history_days=900"])


def test_a_number_in_exponent_notation_is_a_number_but_other_strings_stay() -> None:
    params = load_params(REPO / "params.yaml", ["optimize.n_trials=1e2", "train.experiment_name=nan"])
    assert params.optimize.n_trials == 100 and params.train.experiment_name == "nan"


def test_a_params_path_that_is_not_a_readable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is a folder; --params takes a params\.yaml file"):
        load_params(tmp_path)
    binary = tmp_path / "model.pt"
    binary.write_bytes(b"\x80\x04\x95\xff")
    with pytest.raises(ConfigError, match=r"model\.pt: not a text \(UTF-8\) file"):
        load_params(binary)


# Loads each params file given, as an unprivileged user: root (the tests' user in a container) reads
# any file, whatever its mode. Prints one line per file: "loaded" or the error. The first file is
# loaded once before the privileges go, so that every module it needs is imported (the interpreter's
# own files may be root's alone).
_LOAD_AS_NOBODY = """
import os, sys
from stockpredictor.config import ConfigError, load_params
load_params(sys.argv[1])
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
for path in sys.argv[1:]:
    try:
        load_params(path)
        print("loaded")
    except ConfigError as exc:
        print(exc)
"""


def test_a_params_file_the_user_may_not_read_is_named() -> None:
    with tempfile.TemporaryDirectory() as folder:  # under /tmp: a folder any user may enter
        Path(folder).chmod(0o755)
        readable, locked = Path(folder, "readable.yaml"), Path(folder, "locked.yaml")
        for path, mode in ((readable, 0o644), (locked, 0)):
            path.write_text((REPO / "params.yaml").read_text())
            path.chmod(mode)
        shown = subprocess.run(
            [sys.executable, "-c", _LOAD_AS_NOBODY, str(readable), str(locked)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.splitlines()
    assert shown == ["loaded", f"{locked}: cannot read the params file: Permission denied"], shown


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optimize.architectures=[gbm]", "features.indicators=[rsi_14]"], "need log_return_1 in features"),
        (["optimize.architectures=[ridge]", "features.target=close"], "need features.target log_return"),
        (["optimize.architectures=[lstm,lstm]"], "architectures must be unique"),
        (["optimize.architectures=[]"], "at least one model family"),
        (["optimize.architectures=[xgboost]"], "'lstm_cross_attention', 'gbm' or 'ridge'"),
        (["optimize.warm_start_trials=9", "optimize.warm_n_trials=8"], "must be <= warm_n_trials (8)"),
    ],
)
def test_model_families_and_the_warm_start_are_validated(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_params(REPO / "params.yaml", overrides)
