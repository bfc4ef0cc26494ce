"""The kustomize manifests build, pass strict schema validation for kind's Kubernetes, and follow
the deployment rules: labels, non-root, limits, probes, Secret/ConfigMap where KFP runs its pods."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.cluster.assets import (
    CLUSTER_MK,
    CONFIGMAP_NAME,
    KIND_CONFIG,
    MANIFESTS,
    REPO,
    SECRET_KEYS,
    SECRET_NAME,
    compiled_executors,
    documents,
    kind_kubernetes_version,
    overlays,
    pod_specs,
    run,
    tool,
    walk,
)

KFP_NAMESPACE = "kubeflow"  # where KFP standalone runs pipeline pods
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"}
#: The keys that make their holder an administrator: of PostgreSQL, of MLflow.
SUPERUSER_KEYS = {"POSTGRES_PASSWORD", "MLFLOW_ADMIN_PASSWORD"}
#: Where each may be: the one-shot Job that creates the accounts, and the server it belongs to (the
#: PostgreSQL image sets it at the first start of an empty volume, MLflow creates its admin then).
SUPERUSER_HOLDERS = {
    "POSTGRES_PASSWORD": {("Job", "stockpredictor-db-roles"), ("StatefulSet", "stockpredictor-postgres")},
    "MLFLOW_ADMIN_PASSWORD": {("Job", "stockpredictor-db-roles"), ("Deployment", "stockpredictor-mlflow")},
}


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def test_kind_overlay_exists() -> None:
    assert "kind" in [p.name for p in overlays()]


def test_kind_pins_a_kubernetes_version_that_kubernetes_validate_knows() -> None:
    import kubernetes_validate.utils as kv

    major_minor = ".".join(kind_kubernetes_version().split(".")[:2])
    assert major_minor in {".".join(v.split(".")[:2]) for v in kv.all_versions()}


@pytest.mark.parametrize("name", ["base", *[p.name for p in overlays()]])
def test_build_passes_strict_validation(name: str, rendered: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / f"{name}.yaml"
    out.write_text(rendered[name])
    version = kind_kubernetes_version()
    result = run(tool("kubernetes-validate"), "--strict", "-k", version, str(out))
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    # Unknown kinds only WARN (and exit 0): every resource here must have a schema.
    assert "WARN" not in report and "ERROR" not in report, report
    assert report.count("INFO") == len(documents(rendered[name])), report


def test_every_resource_and_pod_template_carries_the_common_labels(
    kind_resources: list[dict[str, Any]],
) -> None:
    for resource in kind_resources:
        labels = resource["metadata"].get("labels", {})
        where = f"{resource['kind']}/{resource['metadata']['name']}"
        assert labels.get("app.kubernetes.io/part-of") == "stockpredictor", where
        assert labels.get("app.kubernetes.io/managed-by") == "kustomize", where
        if resource["kind"] in WORKLOADS:
            template = resource["spec"]["template"]["metadata"]["labels"]
            assert template.get("app.kubernetes.io/part-of") == "stockpredictor", where
            assert "app.kubernetes.io/name" in template, where


def test_workloads_run_non_root_with_requests_and_limits(kind_resources: list[dict[str, Any]]) -> None:
    workloads = [r for r in kind_resources if r["kind"] in WORKLOADS]
    assert {r["metadata"]["name"] for r in workloads} == {
        "stockpredictor-postgres",
        "stockpredictor-mlflow",
        "stockpredictor-api",
        "stockpredictor-db-roles",
    }
    for resource in workloads:
        for spec in pod_specs(resource):
            pod_sc = spec.get("securityContext", {})
            assert pod_sc.get("runAsNonRoot") is True, resource["metadata"]["name"]
            assert pod_sc.get("runAsUser", 0) > 0, resource["metadata"]["name"]
            assert spec.get("automountServiceAccountToken") is False, resource["metadata"]["name"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                where = f"{resource['metadata']['name']}/{container['name']}"
                sc = container.get("securityContext", {})
                assert sc.get("readOnlyRootFilesystem") is True, where
                assert sc.get("allowPrivilegeEscalation") is False, where
                assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
                assert sc.get("runAsUser", pod_sc["runAsUser"]) > 0, where
                for bound in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(container.get("resources", {}).get(bound, {})), where
                image = container["image"]
                assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), where


@pytest.mark.parametrize(
    ("workload", "container", "paths"),
    [
        ("stockpredictor-postgres", "postgres", {"/var/run/postgresql", "/tmp", "/dev/shm"}),
        ("stockpredictor-mlflow", "mlflow", {"/tmp", "/home/mlflow"}),
        ("stockpredictor-mlflow", "write-auth-config", {"/etc/mlflow-auth"}),
        ("stockpredictor-api", "api", {"/tmp", "/app/data"}),
        ("stockpredictor-db-roles", "mlflow-accounts", {"/tmp"}),
    ],
)
def test_what_a_read_only_container_writes_is_an_empty_dir(
    workload: str, container: str, paths: set[str], kind_resources: list[dict[str, Any]]
) -> None:
    resource = next(r for r in kind_resources if r["metadata"]["name"] == workload and r["kind"] in WORKLOADS)
    (spec,) = pod_specs(resource)
    (found,) = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == container]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in found["volumeMounts"] if not m.get("readOnly")}
    for path in paths:
        assert path in mounts, f"{container}: nothing writable at {path}"
        assert "emptyDir" in volumes[mounts[path]], f"{container}: {path} is not an emptyDir"
        assert volumes[mounts[path]]["emptyDir"].get("sizeLimit"), f"{container}: {path} is unbounded"
    env = {e["name"]: e.get("value") for e in found.get("env", [])}
    assert env.get("HOME") in {None, *paths}, f"{container}: HOME is not writable"


def test_every_pipeline_step_has_cpu_and_memory_requests_and_limits() -> None:
    executors = list(compiled_executors())
    if not executors:
        pytest.skip("no compiled pipeline YAML under pipelines/ yet (`make compile` writes them)")
    for name, container, _ in executors:
        resources = container.get("resources", {})
        for key in ("CpuRequest", "CpuLimit", "MemoryRequest", "MemoryLimit"):
            assert resources.get(f"resource{key}"), f"{name}: no {key}"


def test_servers_have_readiness_and_liveness_probes(kind_resources: list[dict[str, Any]]) -> None:
    workloads = [r for r in kind_resources if r["kind"] in LONG_RUNNING]
    paths = {}
    for resource in workloads:
        for container in pod_specs(resource)[0]["containers"]:
            assert "readinessProbe" in container and "livenessProbe" in container, container["name"]
            paths[resource["metadata"]["name"]] = container["readinessProbe"]
    assert paths["stockpredictor-mlflow"]["httpGet"]["path"] == "/health"
    # the API's liveness depends on nothing outside the process; readiness checks the database and MLflow
    (api,) = pod_specs(by_kind(kind_resources, "Deployment")["stockpredictor-api"])[0]["containers"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert api["startupProbe"]["httpGet"]["path"] == "/livez"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "pg_isready" in " ".join(paths["stockpredictor-postgres"]["exec"]["command"])


def test_postgres_keeps_its_data_on_a_volume_claim(kind_resources: list[dict[str, Any]]) -> None:
    postgres = by_kind(kind_resources, "StatefulSet")["stockpredictor-postgres"]
    claims = [t["metadata"]["name"] for t in postgres["spec"]["volumeClaimTemplates"]]
    mounts = {
        m["name"]: m["mountPath"]
        for m in postgres["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    assert claims == ["data"] and mounts["data"] == "/var/lib/postgresql/data"


def secret_env(container: dict[str, Any]) -> dict[str, str]:
    """Environment variable -> Secret key, for the container's variables read from the Secret."""
    refs = {}
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == SECRET_NAME, ref
            refs[entry["name"]] = ref["key"]
    return refs


def test_mlflow_server_uses_postgres_and_serves_artifacts_from_its_volume(
    kind_resources: list[dict[str, Any]],
) -> None:
    mlflow = by_kind(kind_resources, "Deployment")["stockpredictor-mlflow"]
    container = mlflow["spec"]["template"]["spec"]["containers"][0]
    argv = container["command"] + container["args"]
    assert argv[:2] == ["mlflow", "server"]
    option = {argv[i]: argv[i + 1] for i in range(2, len(argv) - 1) if argv[i].startswith("--")}
    # the store URI (with its password) comes from the environment, never from the command line
    assert "--backend-store-uri" not in option
    assert secret_env(container)["MLFLOW_BACKEND_STORE_URI"] == "MLFLOW_BACKEND_STORE_URI"
    assert "--serve-artifacts" in argv
    assert (option["--host"], option["--port"]) == ("0.0.0.0", "5000")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in mlflow["spec"]["template"]["spec"]["volumes"]}
    claim = volumes[mounts[option["--artifacts-destination"]]]["persistentVolumeClaim"]["claimName"]
    assert claim in by_kind(kind_resources, "PersistentVolumeClaim")


def test_mlflow_server_runs_the_basic_auth_app_with_the_secret_credentials(
    kind_resources: list[dict[str, Any]],
) -> None:
    mlflow = by_kind(kind_resources, "Deployment")["stockpredictor-mlflow"]
    container = mlflow["spec"]["template"]["spec"]["containers"][0]
    argv = container["args"]
    assert argv[argv.index("--app-name") + 1] == "basic-auth"
    assert secret_env(container) == {
        "MLFLOW_BACKEND_STORE_URI": "MLFLOW_BACKEND_STORE_URI",
        "MLFLOW_AUTH_ADMIN_USERNAME": "MLFLOW_ADMIN_USERNAME",
        "MLFLOW_AUTH_ADMIN_PASSWORD": "MLFLOW_ADMIN_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "MLFLOW_FLASK_SERVER_SECRET_KEY",
    }
    config_path = {e["name"]: e.get("value") for e in container["env"]}["MLFLOW_AUTH_CONFIG_PATH"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in mlflow["spec"]["template"]["spec"]["volumes"]}
    (auth_volume,) = [name for name, m in mounts.items() if config_path.startswith(m["mountPath"] + "/")]
    assert mounts[auth_volume].get("readOnly") is True
    assert volumes[auth_volume]["emptyDir"]["medium"] == "Memory"  # it holds a database password


def test_mlflow_auth_config_written_at_start_is_read_by_mlflow(
    kind_resources: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Run the init container's script as the pod would, then read its output with MLflow's reader."""
    mlflow = by_kind(kind_resources, "Deployment")["stockpredictor-mlflow"]
    (writer,) = [
        c for c in mlflow["spec"]["template"]["spec"]["initContainers"] if c["name"] == "write-auth-config"
    ]
    assert writer["command"] == ["python", "-c"]
    assert secret_env(writer) == {"MLFLOW_BACKEND_STORE_URI": "MLFLOW_BACKEND_STORE_URI"}
    uri = "postgresql+psycopg2://mlflow:pa%25ss_w-rd@stockpredictor-postgres:5432/mlflow"
    path = tmp_path / "basic_auth.ini"
    env = {"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_AUTH_CONFIG_PATH": str(path)}
    result = subprocess.run(
        [sys.executable, "-c", writer["args"][0]], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    # MLflow's own reader, loaded from its file: importing mlflow.server.auth needs Flask-WTF, which
    # only the server image has.
    reader = (
        "import importlib.util, mlflow, pathlib\n"
        "path = pathlib.Path(mlflow.__file__).parent / 'server' / 'auth' / 'config.py'\n"
        "spec = importlib.util.spec_from_file_location('auth_config', path)\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(repr(module.read_auth_config()))"
    )
    env |= {"MLFLOW_AUTH_ADMIN_USERNAME": "admin-from-secret", "MLFLOW_AUTH_ADMIN_PASSWORD": "x" * 16}
    result = subprocess.run(
        [sys.executable, "-c", reader], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"database_uri={uri!r}" in result.stdout
    assert "default_permission='NO_PERMISSIONS'" in result.stdout
    assert "admin_username='admin-from-secret'" in result.stdout


def test_api_reads_its_read_only_accounts_from_the_secret(kind_resources: list[dict[str, Any]]) -> None:
    api = by_kind(kind_resources, "Deployment")["stockpredictor-api"]
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert secret_env(container) == {
        "STOCKPREDICTOR_DATABASE_URL": "STOCKPREDICTOR_READER_DATABASE_URL",
        "MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME": "MLFLOW_READER_USERNAME",
        "MLFLOW_TRACKING_PASSWORD": "MLFLOW_READER_PASSWORD",
    }
    assert [p["containerPort"] for p in container["ports"]] == [8000]


def test_administrator_passwords_reach_only_the_one_shot_job_and_their_own_server(
    kind_resources: list[dict[str, Any]],
) -> None:
    """No pod of the API, of MLflow's init containers or any other workload holds PostgreSQL's
    superuser or MLflow's admin password; the Job that uses them ends, and is not restarted."""
    holders: dict[str, set[tuple[str, str]]] = {key: set() for key in SUPERUSER_KEYS}
    for resource in kind_resources:
        for spec in pod_specs(resource):
            for container in spec.get("initContainers", []) + spec["containers"]:
                for key in set(secret_env(container).values()) & SUPERUSER_KEYS:
                    holders[key].add((resource["kind"], resource["metadata"]["name"]))
                assert not container.get("envFrom"), container["name"]  # every key is named
    assert holders == SUPERUSER_HOLDERS
    (mlflow,) = pod_specs(by_kind(kind_resources, "Deployment")["stockpredictor-mlflow"])
    assert [c["name"] for c in mlflow["initContainers"]] == ["write-auth-config"]
    job = by_kind(kind_resources, "Job")["stockpredictor-db-roles"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


def test_steps_and_the_api_use_accounts_that_are_not_administrators(
    kind_resources: list[dict[str, Any]],
) -> None:
    """The Job makes the steps' MLflow account (MLFLOW_TRACKING_*) a writer, the API's a reader, and
    the API's database URL names the reader role that db-reader.sql creates."""
    job = by_kind(kind_resources, "Job")["stockpredictor-db-roles"]
    containers = {c["name"]: c for c in pod_specs(job)[0]["containers"]}
    assert secret_env(containers["mlflow-accounts"]) == {
        "MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME": "MLFLOW_ADMIN_USERNAME",
        "MLFLOW_TRACKING_PASSWORD": "MLFLOW_ADMIN_PASSWORD",
        "WRITER_USERNAME": "MLFLOW_TRACKING_USERNAME",
        "WRITER_PASSWORD": "MLFLOW_TRACKING_PASSWORD",
        "READER_USERNAME": "MLFLOW_READER_USERNAME",
        "READER_PASSWORD": "MLFLOW_READER_PASSWORD",
    }
    script = " ".join(containers["db-roles"]["args"])
    assert "DB_READER=stockpredictor_reader" in script and "db-reader.sql" in script
    example = dict(
        line.split("=", 1)
        for line in (MANIFESTS / "overlays" / "kind" / "secrets.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert make_url(example["STOCKPREDICTOR_READER_DATABASE_URL"]).username == "stockpredictor_reader"
    assert example["MLFLOW_ADMIN_USERNAME"] not in {
        example["MLFLOW_TRACKING_USERNAME"],
        example["MLFLOW_READER_USERNAME"],
    }


def test_secret_and_configmap_live_where_kfp_runs_pipeline_pods(kind_resources: list[dict[str, Any]]) -> None:
    secret = by_kind(kind_resources, "Secret")[SECRET_NAME]
    configmap = by_kind(kind_resources, "ConfigMap")[CONFIGMAP_NAME]
    assert secret["metadata"]["namespace"] == KFP_NAMESPACE
    assert configmap["metadata"]["namespace"] == KFP_NAMESPACE
    assert set(secret["data"]) == SECRET_KEYS
    # every workload references only keys the Secret has
    refs = [value for r in kind_resources for key, value, _ in walk(r) if key == "secretKeyRef"]
    assert refs
    for ref in refs:
        assert ref["name"] == SECRET_NAME and ref["key"] in SECRET_KEYS, ref
    # the whole app shares the namespace, so short Service names resolve from pipeline pods
    assert {r["metadata"].get("namespace") for r in kind_resources} == {KFP_NAMESPACE}
    url = base64.b64decode(secret["data"]["STOCKPREDICTOR_DATABASE_URL"]).decode()
    assert url.startswith("postgresql+psycopg2://") and "@stockpredictor-postgres:5432/" in url
    services = by_kind(kind_resources, "Service")
    assert {"stockpredictor-postgres", "stockpredictor-mlflow", "stockpredictor-api"} <= set(services)


def test_configmap_holds_valid_params_with_live_data_and_the_repository_settings(
    kind_resources: list[dict[str, Any]], tmp_path: Path
) -> None:
    from stockpredictor.config import load_params

    configmap = by_kind(kind_resources, "ConfigMap")[CONFIGMAP_NAME]
    deployed_file = tmp_path / "params.yaml"
    deployed_file.write_text(configmap["data"]["params.yaml"])
    deployed, repository = load_params(deployed_file), load_params(REPO / "params.yaml")
    assert deployed.data.source == "yahoo" and repository.data.source == "sample"  # `make demo` stays offline
    assert len(deployed.data.tickers) >= 20
    assert deployed.model_dump(exclude={"data"}) == repository.model_dump(exclude={"data"})


def test_configmap_source_copy_is_fresh() -> None:
    copy = MANIFESTS / "base" / "params.yaml"
    assert not copy.is_symlink(), "kustomize's load restrictor rejects symlinks leaving the kustomization"
    result = run(sys.executable, str(REPO / "scripts" / "sync_params.py"), "--check")
    assert result.returncode == 0, result.stderr


def test_node_ports_match_the_kind_port_mappings(kind_resources: list[dict[str, Any]]) -> None:
    config = yaml.safe_load(KIND_CONFIG.read_text())
    mappings = {
        m["containerPort"]: m["hostPort"] for n in config["nodes"] for m in n.get("extraPortMappings", [])
    }
    services = by_kind(kind_resources, "Service")
    api = services["stockpredictor-api"]
    assert api["spec"]["type"] == "NodePort"
    (port,) = api["spec"]["ports"]
    assert mappings[port["nodePort"]] == 8000
    # MLflow holds the model registry: reachable only inside the cluster (port-forward for people)
    assert services["stockpredictor-mlflow"]["spec"]["type"] == "ClusterIP"
    assert [s for s, r in services.items() if r["spec"].get("type", "ClusterIP") != "ClusterIP"] == [
        "stockpredictor-api"
    ]
    # the KFP UI Service belongs to KFP: `make kfp-install` patches it onto the mapped node port
    kfp_ui = re.search(r'patch service ml-pipeline-ui.*?"nodePort":(\d+)', CLUSTER_MK.read_text(), re.DOTALL)
    assert kfp_ui and mappings[int(kfp_ui.group(1))] == 8080
    assert "KFP_HOST ?= http://localhost:8080" in CLUSTER_MK.read_text()
    for mapping in (m for n in config["nodes"] for m in n.get("extraPortMappings", [])):
        assert mapping.get("listenAddress") == "127.0.0.1", "unauthenticated services: localhost only"


def test_overlay_secrets_env_is_git_ignored() -> None:
    if run("git", "rev-parse", "--is-inside-work-tree", cwd=REPO).returncode != 0:
        pytest.skip("not a git work tree")
    for overlay in overlays():
        if (overlay / "kustomization.yaml").read_text().count("secrets.env"):
            path = (overlay / "secrets.env").relative_to(REPO)
            assert run("git", "check-ignore", "-q", str(path), cwd=REPO).returncode == 0, (
                f"{path} must be git-ignored"
            )
            assert (overlay / "secrets.env.example").is_file()
