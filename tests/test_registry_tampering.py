"""Models load only what training wrote: versions tampered with through a real MLflow server are refused.

The attacker has write access to the registry: they rewrite a version's files through the server's
artifact proxy, as anyone who reaches MLflow can. Each tampering is refused by `load_model` with
one line naming the model and version, before MLflow loads anything from the files.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow.pytorch
import numpy as np
import pytest
import torch
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from stockpredictor import registry
from stockpredictor.config import Settings
from stockpredictor.errors import RegistryError, UnsafeModelError
from stockpredictor.models import ModelSpec, build_model
from stockpredictor.registry_manifest import MANIFEST_PARAM
from tests.support.cli import command, environment
from tests.support.mlflow_server import MlflowServer
from tests.support.overrides import SAMPLE_DATASET
from tests.support.sample_dataset import LATEST, MODEL_NAME, SampleStore, tiny_params, train_with

pytestmark = pytest.mark.filterwarnings("ignore:The tensor attributes")
SPEC = ModelSpec("lstm", n_stocks=2, n_features=3, hidden_size=4, num_layers=1, dropout=0.0)
EXAMPLE = np.random.default_rng(0).normal(size=(2, 5, 2, 3)).astype(np.float32)


@dataclass(frozen=True)
class Version:
    """A version registered by `registry.log_model` + `register_version`, and the module behind it."""

    name: str
    number: int
    mlflow_run_id: str
    model: torch.nn.Module

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.number}"


@pytest.fixture
def version(mlflow_server: MlflowServer, tmp_path: Path) -> Version:
    """A fresh model version (a model name of its own) on the session's MLflow server."""
    registry.use_tracking(Settings(tmp_path / "data", "sqlite://", mlflow_server.url))
    registry.use_experiment("tampering")
    torch.manual_seed(0)
    model = build_model(SPEC)
    with registry.start_run("tampering") as run:
        run.log_params({"dataset_run_id": "none"})
        logged = registry.log_model(model, EXAMPLE, metadata={})
    name = f"tampering-{uuid.uuid4().hex[:8]}"
    return Version(name, registry.register_version(logged, name), run.mlflow_run_id, model)


def upload(target: Version, relative: str, content: bytes, tmp_path: Path) -> None:
    """Write `content` to the version's file `relative` through the server (what an attacker can do)."""
    location = MlflowClient().get_model_version_download_uri(target.name, str(target.number))
    local = tmp_path / "upload" / Path(relative).name
    local.parent.mkdir(exist_ok=True)
    local.write_bytes(content)
    folder = Path(relative).parent.as_posix()
    get_artifact_repository(location).log_artifact(str(local), None if folder == "." else folder)


def edit_mlmodel(target: Version, tmp_path: Path, edit: Callable[[dict], None]) -> None:
    local = mlflow.artifacts.download_artifacts(f"{target.uri}/MLmodel", dst_path=str(tmp_path / "read"))
    mlmodel = yaml.safe_load(Path(local).read_text())
    edit(mlmodel)
    upload(target, "MLmodel", yaml.safe_dump(mlmodel).encode(), tmp_path)


def other_weights(tmp_path: Path) -> bytes:
    """The `model.pt2` of another model of the same shape: a valid export, other weights."""
    torch.manual_seed(1)
    path = tmp_path / "other"
    mlflow.pytorch.save_model(
        build_model(SPEC), path, serialization_format="pt2", input_example=EXAMPLE, pip_requirements=["torch"]
    )
    return (path / "data" / "model.pt2").read_bytes()


def add_code_folder(target: Version, tmp_path: Path) -> None:
    """The attack of issue 16: `pytorch.code: code` and a package that MLflow would put on sys.path."""
    marker = tmp_path / "code-ran"
    upload(target, "code/sympy/__init__.py", f"open({str(marker)!r}, 'w').close()\n".encode(), tmp_path)
    edit_mlmodel(target, tmp_path, lambda m: m["flavors"]["pytorch"].update(code="code"))


TAMPERINGS: dict[str, tuple[Callable[[Version, Path], None], list[str]]] = {
    "code folder": (
        add_code_folder,
        [
            "files beyond the manifest: code/sympy/__init__.py",
            "files changed: MLmodel",
            "MLmodel lists a code path 'code' (flavor pytorch)",
        ],
    ),
    "swapped weights": (
        lambda v, tmp: upload(v, "data/model.pt2", other_weights(tmp), tmp),
        ["files changed: data/model.pt2"],
    ),
    "extra file": (
        lambda v, tmp: upload(v, "helpers.py", b"import os\n", tmp),
        ["files beyond the manifest: helpers.py"],
    ),
    "edited MLmodel (another flavor)": (
        lambda v, tmp: edit_mlmodel(
            v, tmp, lambda m: m["flavors"].update(sklearn={"pickled_model": "m.pkl"})
        ),
        ["files changed: MLmodel", "flavors ['python_function', 'pytorch', 'sklearn']"],
    ),
    "edited MLmodel (one value)": (
        lambda v, tmp: edit_mlmodel(v, tmp, lambda m: m.update(mlflow_version="3.17.3")),
        ["files changed: MLmodel"],
    ),
}


def test_an_untouched_version_loads_and_predicts_like_the_trained_module(version: Version) -> None:
    loaded = registry.load_model(version.uri).model
    with torch.no_grad():
        expected = version.model(torch.from_numpy(EXAMPLE)).numpy()
        np.testing.assert_allclose(loaded(torch.from_numpy(EXAMPLE)).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_tampered_version_is_refused_with_one_line_naming_it(
    version: Version, tmp_path: Path, tampering: str
) -> None:
    tamper, problems = TAMPERINGS[tampering]
    tamper(version, tmp_path)
    with pytest.raises(UnsafeModelError) as refused:
        registry.load_model(version.uri)
    message = str(refused.value)
    print(f"{tampering}: {message}")
    assert "\n" not in message and isinstance(refused.value, RegistryError)
    assert message.startswith(
        f"model {version.name!r} version {version.number} (MLflow run {version.mlflow_run_id}) is refused: "
    )
    assert [p for p in problems if p not in message] == []
    assert not (tmp_path / "code-ran").exists()


def test_the_manifest_cannot_be_rewritten_and_a_version_without_one_is_refused(
    version: Version, tmp_path: Path
) -> None:
    with pytest.raises(MlflowException, match="Changing param values is not allowed"):
        MlflowClient().log_param(version.mlflow_run_id, MANIFEST_PARAM, '{"model_id": "m-x", "files": []}')
    # A version logged without a manifest (as before manifests were recorded) is refused.
    with mlflow.start_run() as run:
        mlflow.log_param("dataset_run_id", "none")
        mlflow.pytorch.log_model(
            version.model,
            name="model",
            serialization_format="pt2",
            input_example=EXAMPLE,
            pip_requirements=["torch"],
            metadata={"serialization_format": "pt2"},
            registered_model_name=version.name,
        )
    with pytest.raises(UnsafeModelError) as refused:
        registry.load_model(f"models:/{version.name}/{version.number + 1}")
    assert str(refused.value) == (
        f"model {version.name!r} version {version.number + 1} (MLflow run {run.info.run_id}) has no "
        "manifest of its files; refusing to load it (retrain it)"
    )


@pytest.mark.slow
def test_the_code_folder_attack_runs_in_plain_mlflow_but_promote_refuses_the_version_first(
    sample_store: SampleStore, settings: Settings, tmp_path: Path
) -> None:
    """Issue 16's attack on a trained version of the embedded store, each load in a fresh process."""
    train_with(sample_store.engine, tiny_params(), settings, sample_store.run_id)
    uri = MlflowClient().get_model_version_download_uri(MODEL_NAME, "1")
    files = Path(urllib.parse.urlparse(uri).path)
    marker = tmp_path / "code-ran"
    (files / "code" / "sympy").mkdir(parents=True)
    (files / "code" / "sympy" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (files / "MLmodel").write_text((files / "MLmodel").read_text().replace("code: null", "code: code"))

    promote = [*command(*SAMPLE_DATASET), "promote", "--version", "1", "--as-of", LATEST.isoformat()]
    refused = subprocess.run(promote, env=environment(settings), capture_output=True, text=True)
    assert refused.returncode == 5 and not marker.exists()
    last_line = refused.stderr.strip().splitlines()[-1]
    assert f"model '{MODEL_NAME}' version 1 (MLflow run " in last_line
    assert "MLmodel lists a code path 'code' (flavor pytorch)" in last_line

    # The same files, loaded by MLflow without the check, run the attacker's code.
    load = f"import mlflow.pytorch; mlflow.pytorch.load_model({str(files)!r})"
    subprocess.run([sys.executable, "-c", load], capture_output=True, check=False)
    assert marker.exists()
