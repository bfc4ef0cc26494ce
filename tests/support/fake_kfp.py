"""A small Kubeflow Pipelines API (the v2beta1 endpoints `kfp.Client` calls) that records every request."""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

API = "/apis/v2beta1"
CREATED = "2026-01-05T22:30:00Z"


@dataclass
class Request:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    authorization: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeKfp:
    """Server state: what was created, how runs end, and every request received."""

    run_state: str = "SUCCEEDED"
    run_error: str = ""
    requests: list[Request] = field(default_factory=list)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    recurring_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def new_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    def sent(self, method: str, path: str) -> list[Request]:
        """The requests received for `method` `API + path`."""
        return [r for r in self.requests if r.method == method and r.path == API + path]

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        self.requests.append(request)
        route = request.path.removeprefix(API)
        parts = route.strip("/").split("/")
        match request.method, parts:
            case "GET", ["healthz"]:
                return 200, {"commit_sha": "fake", "tag_name": "2.5.0", "multi_user": False}
            case "GET", ["pipelines"]:
                wanted = _filtered_name(request.query)
                found = [p for p in self.pipelines.values() if wanted in (None, p["display_name"])]
                return 200, {"pipelines": found, "total_size": len(found)} if found else {}
            case "POST", ["pipelines", "upload"]:
                pipeline = {"pipeline_id": self.new_id("pipeline"), "display_name": request.query["name"]}
                self.pipelines[pipeline["pipeline_id"]] = {**pipeline, "created_at": CREATED}
                self.versions[pipeline["pipeline_id"]] = [
                    self._version(pipeline["pipeline_id"], request.query["name"])
                ]
                return 200, self.pipelines[pipeline["pipeline_id"]]
            case "POST", ["pipelines", "upload_version"]:
                pipeline_id = request.query["pipelineid"]
                if pipeline_id not in self.pipelines:
                    return 404, {"error_message": f"pipeline {pipeline_id} not found", "code": 5}
                version = self._version(pipeline_id, request.query["name"])
                self.versions[pipeline_id].append(version)
                return 200, version
            case "GET", ["pipelines", pipeline_id, "versions"]:
                newest_first = list(reversed(self.versions.get(pipeline_id, [])))
                return 200, {"pipeline_versions": newest_first, "total_size": len(newest_first)}
            case "GET", ["experiments"]:
                wanted = _filtered_name(request.query)
                found = [e for e in self.experiments.values() if wanted in (None, e["display_name"])]
                return 200, {"experiments": found, "total_size": len(found)} if found else {}
            case "POST", ["experiments"]:
                experiment = {
                    **request.json(),
                    "experiment_id": self.new_id("experiment"),
                    "created_at": CREATED,
                }
                self.experiments[experiment["experiment_id"]] = experiment
                return 200, experiment
            case "POST", ["runs"]:
                run = {
                    **request.json(),
                    "run_id": self.new_id("run"),
                    "state": "PENDING",
                    "created_at": CREATED,
                }
                self.runs[run["run_id"]] = run
                return 200, run
            case "GET", ["runs", run_id]:
                if run_id not in self.runs:
                    return 404, {"error_message": f"run {run_id} not found", "code": 5}
                return 200, self._finished(self.runs[run_id])
            case "GET", ["runs"]:
                newest_first = [self._finished(run) for run in reversed(self.runs.values())]
                runs = newest_first[: int(request.query.get("page_size", "10"))]
                return 200, {"runs": runs, "total_size": len(runs)}
            case "POST", ["recurringruns"]:
                recurring = {
                    **request.json(),
                    "recurring_run_id": self.new_id("recurring"),
                    "created_at": CREATED,
                }
                self.recurring_runs[recurring["recurring_run_id"]] = recurring
                return 200, recurring
            case "GET", ["recurringruns"]:
                wanted = request.query.get("experiment_id")
                found = [r for r in self.recurring_runs.values() if wanted in (None, r["experiment_id"])]
                return 200, {"recurringRuns": found, "total_size": len(found)} if found else {}
            case "DELETE", ["recurringruns", recurring_run_id]:
                if self.recurring_runs.pop(recurring_run_id, None) is None:
                    return 404, {"error_message": f"recurring run {recurring_run_id} not found", "code": 5}
                return 200, {}
        return 404, {"error_message": f"no route {request.method} {request.path}", "code": 5}

    def _finished(self, run: dict[str, Any]) -> dict[str, Any]:
        """A run as it looks once it ended in `run_state`."""
        finished = {**run, "state": self.run_state, "finished_at": CREATED}
        if self.run_error:
            finished["error"] = {"code": 2, "message": self.run_error}
        return finished

    def _version(self, pipeline_id: str, name: str) -> dict[str, Any]:
        return {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": self.new_id("version"),
            "display_name": name,
            "created_at": CREATED,
        }


def _filtered_name(query: dict[str, str]) -> str | None:
    """The display name an EQUALS filter asks for (the client's `get_*_id(name)` lookups)."""
    if "filter" not in query:
        return None
    predicate = json.loads(query["filter"])["predicates"][0]
    return str(predicate["stringValue"])


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKfp

    def _serve(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            self.command, url.path, query, self.rfile.read(length), self.headers.get("Authorization")
        )
        status, document = self.fake.handle(request)
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass


class FakeKfpServer:
    """Serve a FakeKfp on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self) -> None:
        self.fake = FakeKfp()
        handler = type("Handler", (_Handler,), {"fake": self.fake})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeKfpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
