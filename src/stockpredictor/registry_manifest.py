"""What a logged model may contain: the manifest of its files, and the shape of its `MLmodel`.

At registration the registry records a `Manifest` (relative path, size and SHA-256 of every file of
the model, and the id of the logged model) as a parameter of the training run, and the stage records
it with its `digest` in the project's own store (`db.model_manifests`). MLflow refuses to change a
parameter once logged, whereas tags can be overwritten and artifacts re-uploaded by anyone with write
access to the server: rewriting the model's files is not enough to make them pass, and rewriting
MLflow's database too is not either (see docs/security.md, "Trust root").

At load, the downloaded copy must hold exactly the files of the manifest (`differences`) and its
`MLmodel` must describe a plain `pt2` export (`structure_problems`): the `pytorch` and
`python_function` flavors only, no `code` path (MLflow would make its modules importable), the pytorch
loader, and only `model.pt2` in the model data. Both are checked on files only, with nothing
imported from the model. This module does no I/O beyond reading the given folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: The run parameter that holds the manifest (JSON).
MANIFEST_PARAM = "model_manifest"
MLMODEL_FILE = "MLmodel"
SERIALIZATION_FORMAT = "pt2"
PT2_FILE = "model.pt2"
#: A tabular model (`models.tabular`): its one flavor, declared format, data folder and description file;
#: the data folder holds the description and `.npy` arrays only, both read without pickle.
TABULAR_FLAVOR = "stockpredictor_tabular"
TABULAR_FORMAT = "json+npy"
TABULAR_DATA = "tabular"
TABULAR_META_FILE = "model.json"
#: The flavors `mlflow.pytorch.log_model` writes, and the module that must load the pyfunc flavor.
FLAVORS = frozenset({"pytorch", "python_function"})
PYFUNC_LOADER = "mlflow.pytorch"
_CHUNK = 1 << 20
_MAX_LISTED = 5


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a model: path relative to the model folder (POSIX), size in bytes, SHA-256 hex."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """The files of the logged model `model_id` (the `m-...` id of `models:/m-...`), sorted by path."""

    model_id: str
    files: tuple[ManifestEntry, ...]

    def to_json(self) -> str:
        entries = [[f.path, f.size, f.sha256] for f in self.files]
        return json.dumps({"model_id": self.model_id, "files": entries}, separators=(",", ":"))

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of `to_json`: one value that stands for the model id and every file's digest."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse `to_json` output; ValueError when the text is not a manifest."""
        try:
            data = json.loads(text)
            files = tuple(ManifestEntry(str(p), int(s), str(h)) for p, s, h in data["files"])
            return cls(str(data["model_id"]), files)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a model manifest: {exc}") from None


def manifest_of(directory: Path, model_id: str) -> Manifest:
    """The manifest of every regular file under `directory`."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink())
    return Manifest(
        model_id,
        tuple(
            ManifestEntry(p.relative_to(directory).as_posix(), p.stat().st_size, _sha256(p)) for p in files
        ),
    )


def differences(expected: Manifest, directory: Path) -> list[str]:
    """How the files under `directory` differ from `expected` (empty when they match exactly)."""
    unexpected = sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_symlink() or not (p.is_file() or p.is_dir())
    )
    found = {f.path: f for f in manifest_of(directory, expected.model_id).files}
    wanted = {f.path: f for f in expected.files}
    return [
        *_listed("files beyond the manifest", sorted(found.keys() - wanted.keys())),
        *_listed("files missing", sorted(wanted.keys() - found.keys())),
        *_listed("files changed", sorted(p for p in found.keys() & wanted.keys() if found[p] != wanted[p])),
        *_listed("links or special files", unexpected),
    ]


def structure_problems(directory: Path) -> list[str]:
    """Why the MLflow model at `directory` is not a plain `pt2` export or tabular model (empty when it is)."""
    try:
        mlmodel = yaml.safe_load((directory / MLMODEL_FILE).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return [f"unreadable {MLMODEL_FILE} ({type(exc).__name__})"]
    if not isinstance(mlmodel, dict) or not isinstance(mlmodel.get("flavors"), dict):
        return [f"{MLMODEL_FILE} has no flavors"]
    flavors: dict[str, Any] = mlmodel["flavors"]
    problems = [
        f"{MLMODEL_FILE} lists a code path {conf['code']!r} (flavor {name})"
        for name, conf in flavors.items()
        if isinstance(conf, dict) and conf.get("code")
    ]
    if TABULAR_FLAVOR in flavors:
        return problems + _tabular_problems(directory, mlmodel, flavors)
    if set(flavors) != FLAVORS:
        problems.append(f"flavors {sorted(flavors)} instead of {sorted(FLAVORS)}")
    pyfunc = flavors.get("python_function") or {}
    if isinstance(pyfunc, dict) and pyfunc.get("loader_module", PYFUNC_LOADER) != PYFUNC_LOADER:
        problems.append(f"python_function loader_module {pyfunc['loader_module']!r}, not {PYFUNC_LOADER!r}")
    declared = (mlmodel.get("metadata") or {}).get("serialization_format")
    if declared != SERIALIZATION_FORMAT:
        problems.append(f"not logged in {SERIALIZATION_FORMAT!r} format (serialization_format={declared!r})")
    pytorch = flavors.get("pytorch")
    if isinstance(pytorch, dict):
        data = directory / str(pytorch.get("model_data", ""))
        found = sorted(p.name for p in data.iterdir()) if data.is_dir() and data != directory else None
        if found != [PT2_FILE]:
            problems.append(f"expected only {PT2_FILE} in the model data, found {found}")
    return problems


def _tabular_problems(directory: Path, mlmodel: dict[str, Any], flavors: dict[str, Any]) -> list[str]:
    """Why a model declaring the tabular flavor is not one: other flavors, another format, other files."""
    problems = []
    if set(flavors) != {TABULAR_FLAVOR}:
        problems.append(f"flavors {sorted(flavors)} instead of {[TABULAR_FLAVOR]}")
    declared = (mlmodel.get("metadata") or {}).get("serialization_format")
    if declared != TABULAR_FORMAT:
        problems.append(f"not logged in {TABULAR_FORMAT!r} format (serialization_format={declared!r})")
    conf = flavors[TABULAR_FLAVOR]
    if not isinstance(conf, dict) or conf.get("data") != TABULAR_DATA:
        problems.append(f"the {TABULAR_FLAVOR} flavor does not name its data folder {TABULAR_DATA!r}")
        return problems
    data = directory / TABULAR_DATA
    found = sorted(p.name for p in data.iterdir()) if data.is_dir() else []
    if TABULAR_META_FILE not in found or any(
        name != TABULAR_META_FILE and not name.endswith(".npy") for name in found
    ):
        problems.append(f"expected {TABULAR_META_FILE} and .npy arrays in the model data, found {found}")
    return problems


def _listed(what: str, paths: list[str]) -> list[str]:
    if not paths:
        return []
    more = f" and {len(paths) - _MAX_LISTED} more" if len(paths) > _MAX_LISTED else ""
    return [f"{what}: {', '.join(paths[:_MAX_LISTED])}{more}"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
