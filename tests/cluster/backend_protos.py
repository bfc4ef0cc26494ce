"""The protos a Kubeflow Pipelines backend release parses pipelines with, outside the project's venv.

PyPI's `kfp-pipeline-spec` and `kfp-kubernetes` at a backend's exact version carry the protos that
backend was built with. `protos_site` downloads both wheels (and the venv's protobuf and
`googleapis-common-protos` versions, which the generated code imports) into a
cache directory and extracts only the generated `*_pb2` modules and protobuf. `strict_parse` then
parses compiled pipelines in a separate interpreter started with `-S -I` and only that directory on
its path, so the SDK's own protos in `.venv` cannot stand in for the backend's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

CACHE = Path(os.environ.get("STOCKPREDICTOR_CACHE_DIR", Path.home() / ".cache" / "stockpredictor"))
#: Members of the wheels that the parse needs: the two generated modules, and `google.*` (protobuf, rpc).
KEPT = ("kfp/pipeline_spec/pipeline_spec_pb2.py", "kfp/kubernetes/kubernetes_executor_config_pb2.py")


class ProtosUnavailable(Exception):
    """The wheels of a release could not be downloaded (no PyPI) and are not cached."""


def protos_site(version: str, cache: Path = CACHE) -> Path:
    """A directory holding the release's pipeline-spec and Kubernetes protos plus protobuf."""
    site = cache / "kfp-protos" / version / "site"
    done = site / ".complete"
    if done.is_file():
        return site
    wheels = site.parent / "wheels"
    runtime = [f"{dist}=={metadata.version(dist)}" for dist in ("protobuf", "googleapis-common-protos")]
    download = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"),
            *("--dest", str(wheels)),
            *(f"kfp-pipeline-spec=={version}", f"kfp-kubernetes=={version}", *runtime),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if download.returncode != 0:
        raise ProtosUnavailable(f"pip download of the KFP {version} protos failed: {download.stderr[-500:]}")
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member in KEPT or member.startswith("google/"):
                    archive.extract(member, site)
    done.write_text(version + "\n")
    return site


# Runs in the separate interpreter: nothing but the standard library and `site` (argv[1]) importable.
PARSER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s

def parse(message, value):
    try:
        json_format.ParseDict(value, message)  # strict: an unknown field is an error
        return None
    except json_format.ParseError as exc:
        return str(exc)

out = {"modules": [pipeline_spec_pb2.__file__, k8s.__file__], "pipelines": {}}
for name, docs in json.load(sys.stdin).items():
    result = {"pipeline_spec": parse(pipeline_spec_pb2.PipelineSpec(), docs[0]), "executors": {}}
    platform = docs[1] if len(docs) > 1 else {"platforms": {}}
    result["platform_spec"] = parse(pipeline_spec_pb2.PlatformSpec(), platform)
    executors = platform["platforms"].get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
    for executor, config in executors.items():
        result["executors"][executor] = parse(k8s.KubernetesExecutorConfig(), config)
    out["pipelines"][name] = result
print(json.dumps(out))
"""


def strict_parse(site: Path, pipelines: list[Path]) -> dict[str, Any]:
    """Parse each compiled pipeline YAML with the protos in `site`; every error by pipeline and part."""
    documents = {p.stem: [d for d in yaml.safe_load_all(p.read_text()) if d] for p in pipelines}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    result = subprocess.run(
        [sys.executable, "-S", "-I", "-c", PARSER, str(site)],
        input=json.dumps(documents, default=str),
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed
