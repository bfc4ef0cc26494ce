"""Load shedding around an ASGI app whose requests block until the test lets them go."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import httpx
from anyio.to_thread import run_sync
from starlette.types import Receive, Scope, Send

from stockpredictor.api.shedding import Limits, LoadShedding, send_json

BUSY = (503, {"detail": "server busy"}, "1")


def _blocking_app(wait: Callable[[], Awaitable[object]]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An app answering 200 once `wait` returns (at once for /livez)."""

    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["path"] != "/livez":
            await wait()
        await send_json(send, 200, "done")

    return app


def _client(app: LoadShedding) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def _answer(response: httpx.Response) -> tuple[int, object, str | None]:
    return response.status_code, response.json(), response.headers.get("retry-after")


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


def test_past_the_queue_requests_are_refused_at_once_and_probes_pass() -> None:
    async def scenario() -> list[tuple[int, object, str | None]]:
        release = asyncio.Event()
        shedding = LoadShedding(
            _blocking_app(release.wait), Limits(1, queue=1, queue_wait_seconds=60), exempt=["/livez"]
        )
        async with _client(shedding) as client:
            working = asyncio.create_task(client.get("/a"))
            await _until(shedding._slots.locked)
            queued = asyncio.create_task(client.get("/b"))
            await _until(lambda: shedding._waiting == 1)
            refused, probe = await client.get("/c"), await client.get("/livez")
            release.set()
            return [_answer(r) for r in (refused, probe, await working, await queued)]

    refused, probe, *served = asyncio.run(scenario())
    assert refused == BUSY
    assert probe == served[0] == served[1] == (200, {"detail": "done"}, None)


def test_a_request_waits_in_the_queue_at_most_its_wait() -> None:
    async def scenario() -> tuple[int, object, str | None]:
        release = asyncio.Event()
        shedding = LoadShedding(_blocking_app(release.wait), Limits(1, queue=5, queue_wait_seconds=0.1))
        async with _client(shedding) as client:
            working = asyncio.create_task(client.get("/a"))
            await _until(shedding._slots.locked)
            waited = await client.get("/b")
            release.set()
            await working
        return _answer(waited)

    assert asyncio.run(scenario()) == BUSY


def test_a_slow_request_is_answered_504_and_holds_its_place_until_its_thread_ends() -> None:
    thread_may_end = threading.Event()

    async def scenario() -> list[tuple[int, object, str | None]]:
        shedding = LoadShedding(
            _blocking_app(lambda: run_sync(thread_may_end.wait)),
            Limits(1, queue=0, request_timeout_seconds=0.2),
        )
        async with _client(shedding) as client:
            timed_out = await client.get("/slow")
            while_thread_runs = await client.get("/next")
            thread_may_end.set()
            await _until(lambda: not shedding._slots.locked())
            after = await client.get("/next")
        return [_answer(r) for r in (timed_out, while_thread_runs, after)]

    timed_out, while_thread_runs, after = asyncio.run(scenario())
    assert timed_out == (504, {"detail": "request timed out"}, None)
    assert while_thread_runs == BUSY
    assert after == (200, {"detail": "done"}, None)
