"""Task settings shared by both pipelines: cluster credentials and params, caching, resources, retries."""

from components.notify import notify
from kfp import kubernetes
from kfp.dsl import PipelineTask

from stockpredictor.config import ALERT_WEBHOOK_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV, PARAMS_ENV

SECRET_NAME = "stockpredictor-secrets"
PARAMS_CONFIG_MAP = "stockpredictor-params"
PARAMS_MOUNT_PATH = "/etc/stockpredictor"
PARAMS_PATH = f"{PARAMS_MOUNT_PATH}/params.yaml"


def step(task: PipelineTask, *, cache: bool = False) -> PipelineTask:
    """Inject the store/MLflow Secret and the params ConfigMap; cache only what depends on its inputs alone.

    Locally (`kfp.local`) the Secret and the mount are ignored: the environment of the caller applies.
    """
    kubernetes.use_secret_as_env(
        task,
        secret_name=SECRET_NAME,
        secret_key_to_env={DATABASE_URL_ENV: DATABASE_URL_ENV, MLFLOW_URI_ENV: MLFLOW_URI_ENV},
    )
    kubernetes.use_config_map_as_volume(task, config_map_name=PARAMS_CONFIG_MAP, mount_path=PARAMS_MOUNT_PATH)
    task.set_env_variable(PARAMS_ENV, PARAMS_PATH)
    task.set_caching_options(cache)
    return task


def heavy(task: PipelineTask, cpu: str = "2", memory: str = "4G") -> PipelineTask:
    """Reserve CPU and memory for a model-fitting step (memory is also its limit)."""
    return task.set_cpu_request(cpu).set_memory_request(memory).set_memory_limit(memory)


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
