"""Refusals touch nothing: a bad argument is refused before the store is opened or created, a bad input
window is one line (exit 3), an unusable SQLite path is exit 8, a refused --force is not a success."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import mlflow
import numpy as np
import pytest
from typer.testing import Result

from stockpredictor import registry, registry_models
from stockpredictor.calendar import latest_completed_session
from stockpredictor.config import Settings
from stockpredictor.models import ModelSpec, build_model
from tests.support.cli import invoke


def stores_in(folder: Path) -> dict[str, str]:
    return {
        "STOCKPREDICTOR_DATABASE_URL": f"sqlite:///{folder / 'store.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "STOCKPREDICTOR_DATA_DIR": str(folder),
    }


def error_line(result: Result, exit_code: int) -> str:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["ingest", "--as-of", "2099-01-02"], "after the latest completed NYSE session"),
        (["process", "--as-of", "2010-01-09"], "not an NYSE session (a weekend); the session before it"),
        (["session", "--as-of", "2010-12-24"], "not an NYSE session (a holiday)"),
        (["ingest", "--as-of", "1990-01-02"], "before data.start (2000-01-01)"),
        (["monitor", "--as-of", str(latest_completed_session() + timedelta(days=7))], "after the latest"),
        (["optimize"], "missing option --dataset-run-id"),
        (["train"], "missing option --dataset-run-id"),
        (["promote", "--mlflow-run-id", "abc", "--version", "1"], "not both"),
    ],
)
def test_a_refused_argument_creates_nothing(args: list[str], says: str, tmp_path: Path) -> None:
    result = invoke(*args, env=stores_in(tmp_path))
    assert says in error_line(result, 2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../../x", "a/b", "m:1", "m@production", ".", " "])
def test_a_model_name_mlflow_refuses_is_a_config_error_naming_key_and_file(name: str, tmp_path: Path) -> None:
    result = invoke(
        "production-model", overrides=[f"train.model_name={json.dumps(name)}"], env=stores_in(tmp_path)
    )
    line = error_line(result, 2)
    assert "params.yaml: key 'train.model_name'" in line and "not a name MLflow can register" in line
    assert list(tmp_path.iterdir()) == []


def write_window(folder: Path, window: np.ndarray, **sidecar: object) -> Path:
    path = folder / "window.npy"
    np.save(path, window, allow_pickle=True)
    description = {
        "dataset_run_id": "d",
        "tickers": ["IBM"],
        "last_close": {"IBM": 1.0},
        "target": "log_return",
        "last_day": "2010-01-04",
        "as_of": "2010-01-04",
        "shape": list(np.shape(window)),
        **sidecar,
    }
    path.with_suffix(".json").write_text(json.dumps(description))
    return path


NAN_WINDOW = np.full((1, 3, 1, 2), np.nan, dtype=np.float32)


@pytest.mark.parametrize(
    ("window", "says"),
    [
        (np.array([{"a": 1}], dtype=object), "is not a numeric .npy window"),
        (np.zeros((3, 1, 2), dtype=np.float32), "a window is one float32 (1, days, stocks, features) array"),
        (np.zeros((1, 3, 1, 2), dtype=np.float64), "a float64 array"),
        (NAN_WINDOW, "6 of 6 values are NaN or infinite"),
    ],
)
def test_a_bad_input_window_is_one_line_before_anything_is_opened(
    window: np.ndarray, says: str, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    path = write_window(inputs, window)
    result = invoke(
        "predict",
        "--input-sequence-path",
        str(path),
        "--production-model-uri",
        "models:/M/1",
        "--replace",
        env=stores_in(tmp_path),
    )
    assert says in error_line(result, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["inputs"]


def test_a_file_that_is_not_npy_or_a_sidecar_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    path = write_window(tmp_path, np.zeros((1, 3, 1, 2), dtype=np.float32))
    path.with_suffix(".json").write_text("not json")
    assert "is not the JSON sidecar" in error_line(
        invoke("predict", "--input-sequence-path", str(path), "--production-model-uri", "models:/M/1"),
        3,
    )
    path.write_bytes(b"\x00garbage")
    assert "is not a .npy file" in error_line(
        invoke("predict", "--input-sequence-path", str(path), "--production-model-uri", "models:/M/1"),
        3,
    )


def test_sqlite_store_paths_that_cannot_be_made_are_exit_8(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    cases = {
        tmp_path: f"{tmp_path} is a folder",
        tmp_path / "a_file" / "store.db": f"{tmp_path / 'a_file'} is a file, not a folder",
        Path("/proc/no_such_process/store.db"): "cannot create the folder /proc/no_such_process",
    }
    for path, says in cases.items():
        result = invoke(
            "ingest", "--as-of", "2010-01-04", env={"STOCKPREDICTOR_DATABASE_URL": f"sqlite:///{path}"}
        )
        line = error_line(result, 8)
        assert (
            line.startswith(f"error: store sqlite:///{path} (STOCKPREDICTOR_DATABASE_URL): ") and says in line
        )


@pytest.mark.parametrize("variable", ["STOCKPREDICTOR_DATABASE_URL", "MLFLOW_TRACKING_URI"])
def test_an_empty_connection_variable_is_an_error_not_the_default(variable: str, tmp_path: Path) -> None:
    result = invoke("ingest", "--as-of", "2010-01-04", env={**stores_in(tmp_path), variable: " "})
    assert f"{variable} is set but empty" in error_line(result, 2)
    assert list(tmp_path.iterdir()) == []


def test_a_refused_forced_promotion_exits_5(tmp_path: Path) -> None:
    """A version whose run was KILLED is refused even with --force: recorded, and not a success."""
    env = stores_in(tmp_path)
    registry.use_tracking(Settings(tmp_path, env["STOCKPREDICTOR_DATABASE_URL"], env["MLFLOW_TRACKING_URI"]))
    registry.use_experiment("refused-force")
    model = build_model(ModelSpec("lstm", n_stocks=1, n_features=2, hidden_size=2, num_layers=1, dropout=0.0))
    with registry.start_run("killed") as run:
        run.log_params({"dataset_run_id": "d"})
        logged = registry_models.log_model(model, np.zeros((2, 3, 1, 2), dtype=np.float32), metadata={})
        version = mlflow.register_model(f"models:/{logged.model_id}", "Refused").version
        mlflow.end_run(status="KILLED")
    result = invoke(
        "promote", "--version", str(version), "--force", overrides=["train.model_name=Refused"], env=env
    )
    line = error_line(result, 5)
    assert line.startswith(
        f"error: --force refused: version {version} (MLflow run {run.mlflow_run_id}) did not"
    )
    assert registry.production_model("Refused") is None
