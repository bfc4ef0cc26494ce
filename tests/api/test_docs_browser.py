"""/docs in headless Chromium against `stockpredictor serve`: Swagger UI renders every operation from the
package's own copy, and the page sends no request beyond 127.0.0.1 (read from Chromium's net log)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from stockpredictor.config import Settings
from tests.api.conftest import ENDPOINTS
from tests.support.api_server import Server, serving
from tests.support.chromium import chromium


@pytest.fixture(scope="module")
def server(sqlite_store: Settings) -> Iterator[Server]:
    with serving(sqlite_store) as running:
        yield running


def _page_requests(net_log: Path, site: str) -> set[str]:
    """URLs of the requests made for pages of `site` (Chromium's net log: the network isolation key
    names the top frame's site; the browser's own update and account checks are not the page's)."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return {
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start_job
        and event.get("params", {}).get("network_isolation_key", "").split(" ")[0] == site
    }


def test_docs_render_every_operation_without_leaving_loopback(server: Server, tmp_path: Path) -> None:
    net_log = tmp_path / "netlog.json"
    document = chromium(
        tmp_path,
        f"{server.url}/docs",
        "--dump-dom",
        f"--log-net-log={net_log}",
        # a request elsewhere fails fast instead of waiting for DNS; it is still in the net log
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    )
    assert set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', document)) == set(ENDPOINTS)
    urls = _page_requests(net_log, "http://127.0.0.1")
    # the log does record the page's requests ...
    assert {f"{server.url}/static/swagger/swagger-ui-bundle.js", f"{server.url}/openapi.json"} <= urls
    # ... and none of them left 127.0.0.1
    assert {urlsplit(url).hostname for url in urls} == {"127.0.0.1"}, sorted(urls)
