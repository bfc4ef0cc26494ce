"""Trainings SIGKILLed by a real signal: only finished runs become promotable versions (issue 15).

A training process is killed as soon as its version is visible in the registry (polled from here,
as an operator or a second pipeline would see it). With the current order (`train` registers after
its run has ended) the version is complete; a version registered while its run was still RUNNING
(the older order) is refused by `promote` until and after the sweep marks its run FAILED.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from sqlalchemy import select

from stockpredictor import registry
from stockpredictor.config import Settings
from stockpredictor.db.promotions import promotion_log
from stockpredictor.db.schema import latest_predictions
from stockpredictor.process_liveness import HOST_TAG, PID_TAG
from stockpredictor.stages.monitor import monitor
from stockpredictor.stages.promote import promote
from tests.conftest import REPO
from tests.support.cli import command, environment
from tests.support.overrides import ANY_FIRST_MODEL_PASSES, SAMPLE_DATASET
from tests.support.sample_dataset import LATEST, MODEL_NAME, SampleStore, store_hyperparameters, tiny_params

pytestmark = pytest.mark.slow
POLL_SECONDS = 0.05


def kill_when_registered(process: subprocess.Popen[str], tracking_uri: str) -> tuple[ModelVersion, bool]:
    """Poll the registry until a version of MODEL_NAME appears, then SIGKILL `process` at once.

    Returns the version and whether the process was still running when it was killed."""
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    while True:  # a hang is pytest-timeout's to catch
        if process.poll() is not None and process.returncode != 0:
            pytest.fail(f"the training exited with {process.returncode}:\n{process.communicate()[1][-3000:]}")
        found = client.search_model_versions(f"name = '{MODEL_NAME}'")
        if found:
            alive = process.poll() is None
            if alive:
                os.kill(process.pid, signal.SIGKILL)
            process.communicate()
            return found[0], alive
        time.sleep(POLL_SECONDS)


def gone_process_tags() -> dict[str, str]:
    """Run tags of a process of this host that has ended."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(ended.pid)}


def test_a_training_killed_right_after_registration_leaves_a_finished_complete_version(
    sample_store: SampleStore, settings: Settings
) -> None:
    store_hyperparameters(sample_store.engine, sample_store.run_id)
    registry.use_tracking(settings)
    experiment = registry.use_experiment(tiny_params().train.experiment_name)
    left_running = MlflowClient().create_run(experiment, tags=gone_process_tags())
    process = subprocess.Popen(
        [*command(*SAMPLE_DATASET), "train", "--dataset-run-id", sample_store.run_id],
        env=environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    version, killed = kill_when_registered(process, settings.mlflow_tracking_uri)
    print(f"version {version.version} seen; the process was {'killed' if killed else 'already done'}")

    run_id = str(version.run_id)
    assert registry.run_status(run_id) == registry.FINISHED
    assert registry.run_status(left_running.info.run_id) == "FAILED"  # swept by `train` at its start
    assert "report.md" in [a.path for a in MlflowClient().list_artifacts(run_id)]
    with sample_store.engine.connect() as conn:
        stored = conn.execute(select(latest_predictions.c.model_run_id).distinct()).scalars().all()
    assert stored == [run_id]
    params = tiny_params(*ANY_FIRST_MODEL_PASSES)
    result = promote(sample_store.engine, params, settings, version=int(version.version), as_of=LATEST)
    assert (result.decision, result.promoted) == ("promoted", True)


def test_a_version_registered_before_its_run_finished_is_refused_and_its_dead_run_swept(
    sample_store: SampleStore, settings: Settings
) -> None:
    params = tiny_params()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.register_before_finishing",
            settings.mlflow_tracking_uri,
            params.train.experiment_name,
            MODEL_NAME,
            sample_store.run_id,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    version, killed = kill_when_registered(process, settings.mlflow_tracking_uri)
    assert killed, "the writer waits to be killed"
    run_id, number = str(version.run_id), int(version.version)
    registry.use_tracking(settings)
    assert registry.run_status(run_id) == "RUNNING"

    refused = promote(sample_store.engine, params, settings, version=number, as_of=LATEST)
    forced = promote(sample_store.engine, params, settings, version=number, force=True)
    unfinished = (
        f"version {number} (MLflow run {run_id}) did not finish training: its run is RUNNING, "
        "only versions of FINISHED runs are promoted"
    )
    assert [(r.decision, r.promoted, r.reason) for r in (refused, forced)] == [
        ("rejected", False, unfinished)
    ] * 2
    assert registry.production_model(MODEL_NAME) is None

    monitor(sample_store.engine, params, settings, as_of=LATEST)  # sweeps the run of the killed process
    run = MlflowClient().get_run(run_id)
    assert run.info.status == "FAILED"
    pid, host = run.data.tags["stockpredictor.pid"], run.data.tags["stockpredictor.host"]
    assert run.data.tags[registry.SWEPT_TAG] == f"its process {pid} on {host} is gone"
    assert pid == str(process.pid)

    after = promote(sample_store.engine, params, settings, mlflow_run_id=run_id, as_of=LATEST)
    assert (after.decision, after.reason) == ("rejected", unfinished.replace("is RUNNING", "is FAILED"))
    with sample_store.engine.connect() as conn:
        log = promotion_log(conn, MODEL_NAME)
    assert [(r.decision, r.candidate_version, r.candidate_run_id) for r in log] == [
        ("rejected", number, run_id)
    ] * 3
    assert [r.reason for r in log] == [refused.reason, forced.reason, after.reason]
    assert MlflowClient().get_model_version(MODEL_NAME, str(number)).tags["promotion_reason"] == after.reason
