"""The manifest of a model's files and the shape of a plain `pt2` export, on real MLflow model folders."""

from __future__ import annotations

from pathlib import Path

import mlflow.pytorch
import numpy as np
import pytest
import torch
import yaml

from stockpredictor.models import ModelSpec, build_model
from stockpredictor.registry_manifest import Manifest, differences, manifest_of, structure_problems

pytestmark = pytest.mark.filterwarnings("ignore:The tensor attributes")
EXAMPLE = np.zeros((2, 5, 2, 3), dtype=np.float32)


def tiny_model() -> torch.nn.Module:
    return build_model(ModelSpec("lstm", n_stocks=2, n_features=3, hidden_size=4, num_layers=1, dropout=0.0))


@pytest.fixture(scope="module")
def pt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model saved as `registry_models.log_model` logs it: `pt2`, its format declared in its metadata."""
    path = tmp_path_factory.mktemp("pt2") / "model"
    mlflow.pytorch.save_model(
        tiny_model(),
        path,
        serialization_format="pt2",
        input_example=EXAMPLE,
        pip_requirements=["torch"],
        metadata={"serialization_format": "pt2"},
    )
    return path


def edit_mlmodel(directory: Path, change: dict[str, object]) -> None:
    path = directory / "MLmodel"
    mlmodel = yaml.safe_load(path.read_text())
    for dotted, value in change.items():
        *parents, key = dotted.split(".")
        node = mlmodel
        for parent in parents:
            node = node[parent]
        node[key] = value
    path.write_text(yaml.safe_dump(mlmodel))


def test_the_manifest_lists_every_file_and_survives_json(pt2_dir: Path) -> None:
    manifest = manifest_of(pt2_dir, "m-1")
    assert {f.path for f in manifest.files} >= {"MLmodel", "data/model.pt2", "requirements.txt"}
    assert all(len(f.sha256) == 64 and f.size > 0 for f in manifest.files)
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert differences(manifest, pt2_dir) == [] and structure_problems(pt2_dir) == []
    with pytest.raises(ValueError, match="not a model manifest"):
        Manifest.from_json('{"model_id": "m-1"}')


def test_differences_name_extra_missing_changed_and_linked_files(pt2_dir: Path, tmp_path: Path) -> None:
    manifest = manifest_of(pt2_dir, "m-1")
    copy = tmp_path / "copy"
    copy.mkdir()
    for entry in manifest.files:
        (copy / entry.path).parent.mkdir(parents=True, exist_ok=True)
        (copy / entry.path).write_bytes((pt2_dir / entry.path).read_bytes())
    (copy / "requirements.txt").unlink()
    (copy / "conda.yaml").write_text((pt2_dir / "conda.yaml").read_text().replace("torch", "torhc"))
    (copy / "extra.py").write_text("print('hello')\n")
    (copy / "link").symlink_to(copy / "MLmodel")
    assert differences(manifest, copy) == [
        "files beyond the manifest: extra.py",
        "files missing: requirements.txt",
        "files changed: conda.yaml",
        "links or special files: link",
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"flavors.pytorch.code": "code"}, "MLmodel lists a code path 'code' (flavor pytorch)"),
        ({"flavors.python_function.code": "src"}, "MLmodel lists a code path 'src' (flavor python_function)"),
        (
            {"flavors.sklearn": {"pickled_model": "model.pkl"}},
            "flavors ['python_function', 'pytorch', 'sklearn']",
        ),
        ({"flavors.python_function.loader_module": "evil"}, "python_function loader_module 'evil'"),
        (
            {"metadata.serialization_format": "pickle"},
            "not logged in 'pt2' format (serialization_format='pickle')",
        ),
        ({"flavors.pytorch.model_data": "."}, "expected only model.pt2 in the model data, found None"),
    ],
)
def test_an_mlmodel_that_is_not_a_plain_pt2_export_is_named(
    pt2_dir: Path, tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    copy = tmp_path / "model"
    copy.mkdir()
    for path in pt2_dir.rglob("*"):
        if path.is_file():
            (copy / path.relative_to(pt2_dir)).parent.mkdir(parents=True, exist_ok=True)
            (copy / path.relative_to(pt2_dir)).write_bytes(path.read_bytes())
    edit_mlmodel(copy, change)
    assert [p for p in structure_problems(copy) if p.startswith(problem)] != [], structure_problems(copy)


@pytest.mark.filterwarnings("ignore:Saving pytorch model by Pickle")
def test_a_pickled_or_undeclared_model_is_not_a_plain_pt2_export(tmp_path: Path) -> None:
    mlflow.pytorch.save_model(
        tiny_model(), tmp_path / "pickled", serialization_format="pickle", pip_requirements=["torch"]
    )
    assert "not logged in 'pt2' format (serialization_format=None)" in structure_problems(
        tmp_path / "pickled"
    )
    mlflow.pytorch.save_model(
        tiny_model(), tmp_path / "undeclared", input_example=EXAMPLE, pip_requirements=["torch"]
    )
    assert structure_problems(tmp_path / "undeclared") == [
        "not logged in 'pt2' format (serialization_format=None)"
    ]
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "MLmodel").write_text("flavors: [")
    assert structure_problems(tmp_path / "garbled") == ["unreadable MLmodel (ParserError)"]
