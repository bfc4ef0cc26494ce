"""`stockpredictor pipeline submit|schedule|runs` through the real kfp.Client against a recording KFP API."""

from __future__ import annotations

import json
import socket

from stockpredictor.orchestration.cluster import DEFAULT_CRON
from tests.conftest import REPO
from tests.support.cli import invoke, key_output
from tests.support.fake_kfp import FakeKfp, FakeKfpServer


def test_submit_uploads_the_pipeline_then_a_new_version_and_starts_runs(kfp_server: FakeKfpServer) -> None:
    fake = kfp_server.fake
    first = invoke(
        "pipeline",
        "submit",
        "training",
        "--host",
        kfp_server.url,
        "--as-of",
        "2013-01-04",
        "--tickers",
        "AAPL,IBM",
        overrides=["optimize.n_trials=3"],
    )
    assert first.exit_code == 0, first.output
    second = invoke("pipeline", "submit", "training", "--host", kfp_server.url, "--version", "abc123")
    assert second.exit_code == 0, second.output

    assert fake.sent("GET", "/healthz")
    [upload] = fake.sent("POST", "/pipelines/upload")
    assert upload.query["name"] == "stockpredictor-training"
    assert b"name: stockpredictor-training" in upload.body  # the compiled pipeline itself
    [new_version] = fake.sent("POST", "/pipelines/upload_version")
    assert new_version.query["name"] == "abc123"
    assert new_version.query["pipelineid"] == upload_id(fake)
    assert len(fake.sent("POST", "/experiments")) == 1  # created once, then found by name

    first_run, second_run = (r.json() for r in fake.sent("POST", "/runs"))
    versions = fake.versions[upload_id(fake)]
    assert first_run["pipeline_version_reference"] == {
        "pipeline_id": upload_id(fake),
        "pipeline_version_id": versions[0]["pipeline_version_id"],
    }
    assert (
        second_run["pipeline_version_reference"]["pipeline_version_id"] == versions[1]["pipeline_version_id"]
    )
    assert first_run["experiment_id"] == next(iter(fake.experiments))
    assert first_run["runtime_config"]["parameters"] == {
        "as_of": "2013-01-04",
        "tickers": "AAPL,IBM",
        "n_trials": 0,
        "params_overrides": json.dumps(["optimize.n_trials=3"]),
    }
    first_id, second_id = fake.runs
    assert key_output(first) == first_id  # the key output: the run id
    assert key_output(second) == second_id
    assert "Run details" not in first.stdout  # the client's own prints go to stderr


def upload_id(fake: FakeKfp) -> str:
    return next(iter(fake.pipelines))


def test_upload_publishes_new_versions_with_a_bearer_token(kfp_server: FakeKfpServer) -> None:
    url = kfp_server.url
    first = invoke("pipeline", "upload", "daily", "--host", url, "--token", "t0ken")
    second = invoke("pipeline", "upload", "daily", "--host", url, "--token", "t0ken", "--version", "v2")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    versions = kfp_server.fake.versions[upload_id(kfp_server.fake)]
    assert [v["display_name"] for v in versions] == ["stockpredictor-daily", "v2"]
    assert [key_output(first), key_output(second)] == [v["pipeline_version_id"] for v in versions]
    assert not kfp_server.fake.sent("POST", "/runs")
    assert {r.authorization for r in kfp_server.fake.requests} == {"Bearer t0ken"}


def test_submit_wait_reports_a_failed_run(kfp_server: FakeKfpServer) -> None:
    kfp_server.fake.run_state, kfp_server.fake.run_error = "FAILED", "task train: exit code 1"
    result = invoke("pipeline", "submit", "daily", "--host", kfp_server.url, "--wait")
    assert result.exit_code == 6
    assert "ended FAILED: task train: exit code 1" in result.stderr
    [run_id] = kfp_server.fake.runs
    assert kfp_server.fake.sent("GET", f"/runs/{run_id}")


def test_submit_wait_succeeds(kfp_server: FakeKfpServer) -> None:
    result = invoke("pipeline", "submit", "daily", "--host", kfp_server.url, "--wait")
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.stderr


def test_schedule_creates_a_weekday_evening_recurring_run(kfp_server: FakeKfpServer) -> None:
    result = invoke("pipeline", "schedule", "--host", kfp_server.url)
    assert result.exit_code == 0, result.output
    [sent] = kfp_server.fake.sent("POST", "/recurringruns")
    recurring = sent.json()
    assert recurring["trigger"] == {"cron_schedule": {"cron": DEFAULT_CRON}}
    assert DEFAULT_CRON == "0 30 22 * * 1-5"
    assert int(recurring["max_concurrency"]) == 1
    assert recurring["no_catchup"] is True
    assert recurring["mode"] == "ENABLE"
    assert recurring["runtime_config"]["parameters"]["as_of"] == ""  # each run stands on its own day
    [upload] = kfp_server.fake.sent("POST", "/pipelines/upload")
    assert upload.query["name"] == "stockpredictor-daily"
    assert recurring["pipeline_version_reference"]["pipeline_id"] == upload_id(kfp_server.fake)


def test_schedule_replace_moves_the_recurring_run_to_the_new_version(kfp_server: FakeKfpServer) -> None:
    fake = kfp_server.fake
    first = invoke("pipeline", "schedule", "--host", kfp_server.url, "--version", "daily-1")
    assert first.exit_code == 0, first.output
    training = invoke("pipeline", "schedule", "training", "--host", kfp_server.url, "--version", "training-1")
    assert training.exit_code == 0, training.output
    moved = invoke("pipeline", "schedule", "--host", kfp_server.url, "--version", "daily-2", "--replace")
    assert moved.exit_code == 0, moved.output
    kept = {r["recurring_run_id"]: r["pipeline_version_reference"] for r in fake.recurring_runs.values()}
    assert set(kept) == {training.stdout.strip().splitlines()[-1], moved.stdout.strip().splitlines()[-1]}
    daily_versions = next(v for v in fake.versions.values() if v[0]["display_name"] == "stockpredictor-daily")
    assert daily_versions[-1]["display_name"] == "daily-2"
    assert daily_versions[-1]["pipeline_version_id"] in {ref["pipeline_version_id"] for ref in kept.values()}
    assert [r.path for r in fake.requests if r.method == "DELETE"] == [
        f"/apis/v2beta1/recurringruns/{first.stdout.strip().splitlines()[-1]}"
    ]


def test_schedule_rejects_a_five_field_cron(kfp_server: FakeKfpServer) -> None:
    result = invoke("pipeline", "schedule", "--host", kfp_server.url, "--cron", "30 22 * * 1-5")
    assert result.exit_code == 6
    assert "6 fields" in result.stderr
    assert not kfp_server.fake.sent("POST", "/recurringruns")


def test_runs_lists_recent_runs(kfp_server: FakeKfpServer) -> None:
    for _ in range(2):
        assert invoke("pipeline", "submit", "training", "--host", kfp_server.url).exit_code == 0
    result = invoke("pipeline", "runs", "--host", kfp_server.url, "--limit", "5")
    assert result.exit_code == 0, result.output
    first_id, second_id = kfp_server.fake.runs
    lines = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert [(run_id, state) for run_id, state, *_ in lines] == [
        (second_id, "SUCCEEDED"),
        (first_id, "SUCCEEDED"),
    ]
    [listed] = kfp_server.fake.sent("GET", "/runs")
    assert listed.query["page_size"] == "5"
    assert listed.query["sort_by"] == "created_at desc"


def test_unreachable_host_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = invoke("pipeline", "runs", "--host", f"http://127.0.0.1:{port}")
    assert result.exit_code == 6
    assert f"cannot reach Kubeflow Pipelines at http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.output


def test_the_upload_is_the_committed_compiled_yaml(kfp_server: FakeKfpServer) -> None:
    assert invoke("pipeline", "submit", "daily", "--host", kfp_server.url).exit_code == 0
    [upload] = kfp_server.fake.sent("POST", "/pipelines/upload")
    assert (REPO / "pipelines" / "daily.yaml").read_bytes() in upload.body
