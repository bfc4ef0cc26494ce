"""Task settings shared by both pipelines: cluster credentials and params, caching, resources, retries."""

import inspect
from dataclasses import dataclass

from components.image import IMAGE_PULL_SECRET
from components.notify import notify
from kfp import kubernetes
from kfp.dsl import PipelineTask

from stockpredictor.config import ALERT_WEBHOOK_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV, PARAMS_ENV

SECRET_NAME = "stockpredictor-secrets"
#: Secret keys a step reads, each as the environment variable of the same name. MLflow's client
#: sends MLFLOW_TRACKING_USERNAME/PASSWORD to the server's basic auth.
SECRET_ENV = (DATABASE_URL_ENV, MLFLOW_URI_ENV, "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
PARAMS_CONFIG_MAP = "stockpredictor-params"
PARAMS_MOUNT_PATH = "/etc/stockpredictor"
PARAMS_PATH = f"{PARAMS_MOUNT_PATH}/params.yaml"
#: Labels of every step pod: the cluster's NetworkPolicies select them (manifests/base/networkpolicies.yaml).
POD_LABELS = {"app.kubernetes.io/part-of": "stockpredictor", "app.kubernetes.io/component": "pipeline-step"}


def _name_the_import_frames() -> None:
    """Tell `inspect` which modules the import machinery's frames belong to, so it need not search.

    KFP's task setters (`set_cpu_request`, `set_env_variable`, ...) call `inspect.stack()` for their
    caller's name, and the pipelines are built while their modules are imported, so every stack holds
    frames of the frozen `<frozen importlib._bootstrap>` modules (five per nested import). For a frame
    without a file, `inspect.getmodule` scans all of sys.modules, twice per frame and call: 3.2 of
    5.6 CPU s of `import pipelines`, in every process that builds them (`pipeline run`, compiling).
    Those two names map to the modules they are, so the lookup is one dict read.
    """
    for name in ("importlib._bootstrap", "importlib._bootstrap_external"):
        inspect.modulesbyfile.setdefault(f"<frozen {name}>", name)


_name_the_import_frames()


@dataclass(frozen=True)
class Resources:
    """CPU and memory a step pod requests and may use at most (Kubernetes quantities)."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str


#: Steps that read and write tables or load one model (every step but the fitting ones).
LIGHT = Resources(cpu_request="250m", cpu_limit="1", memory_request="512M", memory_limit="2G")
#: Model-fitting steps (optimize workers, train): torch uses the CPUs it is given.
HEAVY = Resources(cpu_request="2", cpu_limit="2", memory_request="4G", memory_limit="4G")


def step(task: PipelineTask, *, cache: bool = False, resources: Resources = LIGHT) -> PipelineTask:
    """Inject the store/MLflow Secret and the params ConfigMap, label the pod for the network policies,
    bound its CPU and memory, pull the image with the configured pull Secret (if any); cache only what
    depends on its inputs alone.

    Locally (`kfp.local`) the Secrets and the mount are ignored: the environment of the caller applies.
    """
    if IMAGE_PULL_SECRET:
        kubernetes.set_image_pull_secrets(task, [IMAGE_PULL_SECRET])
    kubernetes.use_secret_as_env(
        task,
        secret_name=SECRET_NAME,
        secret_key_to_env={key: key for key in SECRET_ENV},
    )
    kubernetes.use_config_map_as_volume(task, config_map_name=PARAMS_CONFIG_MAP, mount_path=PARAMS_MOUNT_PATH)
    task.set_env_variable(PARAMS_ENV, PARAMS_PATH)
    for key, value in POD_LABELS.items():
        kubernetes.add_pod_label(task, key, value)
    task.set_cpu_request(resources.cpu_request).set_cpu_limit(resources.cpu_limit)
    task.set_memory_request(resources.memory_request).set_memory_limit(resources.memory_limit)
    task.set_caching_options(cache)
    return task


def retried(task: PipelineTask) -> PipelineTask:
    """Retry a step that talks to the network (market data): twice, after 30 s then 60 s."""
    return task.set_retry(num_retries=2, backoff_duration="30s", backoff_factor=2.0)


def alerts(pipeline: str) -> PipelineTask:
    """The exit step that delivers the run's alerts; the webhook URL is an optional key of the Secret."""
    task = step(notify(pipeline=pipeline))
    kubernetes.use_secret_as_env(
        task, secret_name=SECRET_NAME, secret_key_to_env={ALERT_WEBHOOK_ENV: ALERT_WEBHOOK_ENV}, optional=True
    )
    return task
