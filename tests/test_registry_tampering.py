"""Models load only what training wrote: versions tampered with through a real MLflow server are refused.

The attacker has write access to the registry: they rewrite a version's files through the server's
artifact proxy, as anyone who reaches MLflow can, and, with write access to MLflow's database, the
manifest recorded in the run to match. Each tampering is refused by `load_model` with one line naming
the model and version, before MLflow loads anything from the files: the manifest training recorded in
the project's store (the trust root) is checked first. A corrupt archive that matches every manifest
is refused too, as one line.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import urllib.parse
import uuid
import zipfile
from collections.abc import Callable, Iterator
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
from sqlalchemy import Engine, select

from stockpredictor import registry, registry_models
from stockpredictor.config import Settings
from stockpredictor.db.model_manifests import recorded_manifest
from stockpredictor.db.schema import latest_predictions
from stockpredictor.errors import RegistryError, UnsafeModelError
from stockpredictor.models import ModelSpec, build_model
from stockpredictor.registry_manifest import MANIFEST_PARAM, Manifest, differences, manifest_of
from tests.support.cli import command, environment, invoke, key_output
from tests.support.mlflow_server import MlflowServer
from tests.support.overrides import SAMPLE_DATASET
from tests.support.sample_dataset import LATEST, MODEL_NAME
from tests.support.trained_model import Trained
from tests.support.trust import (
    register_trusted,
    rewrite_mlflow_manifest,
    rewrite_store_manifest,
    trust_store,
)

pytestmark = pytest.mark.filterwarnings("ignore:The tensor attributes")
SPEC = ModelSpec("lstm", n_stocks=2, n_features=3, hidden_size=4, num_layers=1, dropout=0.0)
EXAMPLE = np.random.default_rng(0).normal(size=(2, 5, 2, 3)).astype(np.float32)


@dataclass(frozen=True)
class Version:
    """A version registered by `registry_models.log_model` + `register_version` (its manifest recorded in
    `store`, as the stages do), and the module behind it."""

    name: str
    number: int
    mlflow_run_id: str
    model: torch.nn.Module
    store: Engine

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.number}"

    def load(self) -> registry_models.LoadedModel:
        with self.store.connect() as conn:
            return registry_models.load_model(conn, self.uri)


@pytest.fixture
def version(mlflow_server: MlflowServer, tmp_path: Path) -> Iterator[Version]:
    """A fresh model version (a model name of its own) on the session's MLflow server."""
    store = trust_store(tmp_path / "store")
    registry.use_tracking(Settings(tmp_path / "data", "sqlite://", mlflow_server.url))
    registry.use_experiment("tampering")
    torch.manual_seed(0)
    model = build_model(SPEC)
    with registry.start_run("tampering") as run:
        run.log_params({"dataset_run_id": "none"})
        logged = registry_models.log_model(model, EXAMPLE, metadata={})
    name = f"tampering-{uuid.uuid4().hex[:8]}"
    yield Version(name, register_trusted(store, logged, name), run.mlflow_run_id, model, store)
    store.dispose()


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
    loaded = version.load().model
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
        version.load()
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
    with pytest.raises(UnsafeModelError) as refused, version.store.connect() as conn:
        registry_models.load_model(conn, f"models:/{version.name}/{version.number + 1}")
    assert str(refused.value) == (
        f"model {version.name!r} version {version.number + 1} (MLflow run {run.info.run_id}) has no "
        "manifest of its files; refusing to load it (retrain it)"
    )


def shifted_by_five(archive: Path, out: Path) -> bytes:
    """The issue's attack: the same `pt2` export with its output bias raised by 5 (a valid model)."""
    program = torch.export.load(archive)
    with torch.no_grad():
        program.state_dict["head.bias"].add_(5.0)
    torch.export.save(program, out)
    return out.read_bytes()


def bad_crc(archive: bytes) -> bytes:
    """`archive` with the first byte of its graph's JSON flipped: a zip whose member fails its CRC."""
    member = next(i for i in zipfile.ZipFile(io.BytesIO(archive)).infolist() if i.filename.endswith(".json"))
    start = member.header_offset
    name_length, extra_length = struct.unpack("<HH", archive[start + 26 : start + 30])
    at = start + 30 + name_length + extra_length
    return archive[:at] + bytes([archive[at] ^ 0xFF]) + archive[at + 1 :]


def files_now(target: Version, tmp_path: Path) -> tuple[Path, Manifest]:
    """The version's files as the server now serves them, and their manifest (what a rewrite records)."""
    location = MlflowClient().get_model_version_download_uri(target.name, str(target.number))
    local = Path(mlflow.artifacts.download_artifacts(location, dst_path=str(tmp_path / uuid.uuid4().hex)))
    return local, manifest_of(local, recorded(target.mlflow_run_id).model_id)


def recorded(mlflow_run_id: str) -> Manifest:
    """The manifest MLflow holds for the run."""
    return Manifest.from_json(MlflowClient().get_run(mlflow_run_id).data.params[MANIFEST_PARAM])


@pytest.mark.parametrize("rewritten", ["MLflow's database", "the project's store"])
def test_weights_rewritten_with_a_matching_manifest_in_one_database_are_refused_before_load(
    version: Version, mlflow_server: MlflowServer, tmp_path: Path, rewritten: str
) -> None:
    """The issue's attack: a valid model whose output bias is +5, and one record of its manifest to match."""
    trained = recorded(version.mlflow_run_id)
    original, _ = files_now(version, tmp_path)
    evil = shifted_by_five(original / "data" / "model.pt2", tmp_path / "evil.pt2")
    upload(version, "data/model.pt2", evil, tmp_path)
    files, tampered = files_now(version, tmp_path)
    assert differences(tampered, files) == []  # the rewritten record describes the served files exactly
    with torch.no_grad():  # and they are a working model, 5 above the trained one
        shift = mlflow.pytorch.load_model(str(files))(torch.from_numpy(EXAMPLE)) - version.model(
            torch.from_numpy(EXAMPLE)
        )
    np.testing.assert_allclose(shift.numpy(), 5.0, rtol=1e-5)
    if rewritten == "MLflow's database":
        rewrite_mlflow_manifest(mlflow_server.backend_store_uri, version.mlflow_run_id, tampered)
        in_mlflow, in_store = tampered, trained
    else:
        rewrite_store_manifest(version.store, version.mlflow_run_id, tampered)
        in_mlflow, in_store = trained, tampered
    expected = (
        f"model {version.name!r} version {version.number} (MLflow run {version.mlflow_run_id}) is refused: "
        f"its manifest in MLflow (sha256 {in_mlflow.digest[:12]}) is not the one training recorded in the "
        f"store (sha256 {in_store.digest[:12]})"
    )
    with pytest.raises(UnsafeModelError) as refused:
        version.load()
    assert str(refused.value) == expected
    # the command a user runs: `promote` loads the candidate first, and stops there
    settings = Settings(tmp_path / "data", version.store.url.render_as_string(False), mlflow_server.url)
    promote = ["promote", "--version", str(version.number), "--as-of", "2024-01-02"]
    cli = invoke(*promote, overrides=[f"train.model_name={version.name}"], env=environment(settings))
    print(f"{rewritten}: exit {cli.exit_code}: {cli.stderr.strip().splitlines()[-1]}")
    assert cli.exit_code == 5 and "Traceback" not in cli.stderr
    assert cli.stderr.strip().splitlines()[-1].endswith(expected)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda good: b"not a zip archive\n" * 64, id="not a zip"),
        pytest.param(lambda good: good[: len(good) // 2], id="truncated"),
        pytest.param(bad_crc, id="bad CRC"),
    ],
)
def test_a_corrupt_archive_matching_every_manifest_is_refused_as_one_line(
    version: Version, mlflow_server: MlflowServer, tmp_path: Path, corrupt: Callable[[bytes], bytes]
) -> None:
    """An attacker who rewrites the files, MLflow's database and ours gets a refusal, not a traceback."""
    original, _ = files_now(version, tmp_path)
    upload(version, "data/model.pt2", corrupt((original / "data" / "model.pt2").read_bytes()), tmp_path)
    _, tampered = files_now(version, tmp_path)
    rewrite_mlflow_manifest(mlflow_server.backend_store_uri, version.mlflow_run_id, tampered)
    rewrite_store_manifest(version.store, version.mlflow_run_id, tampered)
    with pytest.raises(UnsafeModelError) as refused:
        version.load()
    message = str(refused.value)
    print(message)
    assert "\n" not in message
    assert message.startswith(f"model {version.name!r} version {version.number} is not a loadable pt2 export")


@pytest.mark.slow
def test_the_issue_attack_on_the_embedded_stores_ends_predict_with_exit_5_before_anything_is_stored(
    trained: Trained, tmp_path: Path
) -> None:
    """Issue 21: the served version's weights shifted by +5 and MLflow's manifest rewritten to match."""
    sample_store, settings, mlflow_run_id = trained.store, trained.settings, trained.result.mlflow_run_id
    uri = MlflowClient().get_model_version_download_uri(MODEL_NAME, "1")
    files = Path(urllib.parse.urlparse(uri).path)
    archive = files / "data" / "model.pt2"
    archive.write_bytes(shifted_by_five(archive, tmp_path / "evil.pt2"))
    tampered = manifest_of(files, recorded(mlflow_run_id).model_id)
    rewrite_mlflow_manifest(settings.mlflow_tracking_uri, mlflow_run_id, tampered)
    assert differences(recorded(mlflow_run_id), files) == []
    with sample_store.engine.connect() as conn:
        trusted = recorded_manifest(conn, mlflow_run_id)
    assert trusted is not None

    env = environment(settings)
    prepare = ["prepare-input", "--dataset-run-id", sample_store.run_id, "--as-of", LATEST.isoformat()]
    window = key_output(invoke(*prepare, overrides=SAMPLE_DATASET, env=env))
    predict = ["predict", "--input-sequence-path", window]
    predict += ["--production-model-uri", f"models:/{MODEL_NAME}/1"]
    refused = invoke(*predict, overrides=SAMPLE_DATASET, env=env)
    last_line = refused.stderr.strip().splitlines()[-1]
    print(last_line)
    assert refused.exit_code == 5 and "Traceback" not in refused.stderr
    assert last_line.endswith(
        f"model '{MODEL_NAME}' version 1 (MLflow run {mlflow_run_id}) is refused: its manifest in "
        f"MLflow (sha256 {tampered.digest[:12]}) is not the one training recorded in the store "
        f"(sha256 {trusted[1][:12]})"
    )
    daily = select(latest_predictions).where(latest_predictions.c.kind == "daily")
    with sample_store.engine.connect() as conn:
        assert conn.execute(daily).all() == []


@pytest.mark.slow
def test_the_code_folder_attack_runs_in_plain_mlflow_but_promote_refuses_the_version_first(
    trained: Trained, tmp_path: Path
) -> None:
    """Issue 16's attack on a trained version of the embedded store, each load in a fresh process."""
    settings = trained.settings
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
