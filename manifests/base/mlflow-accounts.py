"""Create or fix MLflow's two accounts of ours, run by the one-shot Job stockpredictor-db-roles as
MLflow's admin (MLFLOW_TRACKING_USERNAME/PASSWORD in its environment are the admin's).

- the writer (pipeline steps): EDIT on the experiment and the registered model of params.yaml;
- the reader (the API): READ on the registered model, and READ on the experiment (the API reads the
  production version's run: its dataset and metrics). It can register nothing and move no alias.

Both get no other permission (the server's default is NO_PERMISSIONS). The experiment and the model
are created here when missing, so that the grants exist before the first training. Idempotent.
"""

import os
import time
import urllib.request

import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

URI = os.environ["MLFLOW_TRACKING_URI"]


def wait_for_server() -> None:
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{URI}/health", timeout=5):
                return
        except OSError:
            time.sleep(5)
    raise SystemExit(f"MLflow at {URI} did not answer /health in 10 minutes")


def account(auth: AuthServiceClient, username: str, credential: str) -> None:
    try:
        auth.create_user(username, credential)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        auth.update_user_password(username, credential)


def grant(auth: AuthServiceClient, username: str, resource: tuple[str, str], permission: str) -> None:
    """Give `username` exactly `permission` on `resource` (a grant of another level is replaced)."""
    try:
        auth.grant_user_permission(username, *resource, permission)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        auth.revoke_user_permission(username, *resource)
        auth.grant_user_permission(username, *resource, permission)


def main() -> None:
    wait_for_server()
    with open(os.environ["STOCKPREDICTOR_PARAMS"], encoding="utf-8") as f:
        train = yaml.safe_load(f)["train"]
    client, auth = MlflowClient(URI), AuthServiceClient(URI)
    experiment = client.get_experiment_by_name(train["experiment_name"])
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment(train["experiment_name"])
    )
    try:
        client.create_registered_model(train["model_name"])
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    grants = {
        (os.environ["WRITER_USERNAME"], os.environ["WRITER_PASSWORD"]): "EDIT",
        (os.environ["READER_USERNAME"], os.environ["READER_PASSWORD"]): "READ",
    }
    for (username, credential), permission in grants.items():
        account(auth, username, credential)
        grant(auth, username, ("experiment", experiment_id), permission)
        grant(auth, username, ("registered_model", train["model_name"]), permission)
    print(f"MLflow accounts ready: {', '.join(f'{u} {p}' for (u, _), p in grants.items())}")


main()
