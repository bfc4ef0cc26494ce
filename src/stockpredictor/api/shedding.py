"""Load shedding for the API: a bounded number of requests at work, a bounded queue, a time limit each.

Past the queue, or after waiting in it too long, a request is answered at once with 503
`{"detail": "server busy"}` and `Retry-After`; a request still at work after its time limit is
answered 504 (its thread finishes in the background and only then frees its place).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SERVER_BUSY = "server busy"
TIMED_OUT = "request timed out"
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Limits:
    """Requests at work at once, requests waiting, how long one may wait and how long one may take."""

    concurrency: int = 16
    queue: int = 64
    queue_wait_seconds: float = 1.0
    request_timeout_seconds: float = 10.0


async def send_json(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """Answer `{"detail": detail}` with `status`."""
    body = f'{{"detail":"{detail}"}}'.encode()
    raw: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((key.encode(), value.encode()) for key, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def busy_headers() -> dict[str, str]:
    return {"retry-after": str(RETRY_AFTER_SECONDS)}


class LoadShedding:
    """ASGI middleware enforcing `limits` on every HTTP request except those to `exempt` paths."""

    def __init__(self, app: ASGIApp, limits: Limits, exempt: Collection[str] = ()) -> None:
        self.app = app
        self.limits = limits
        self._exempt = frozenset(exempt)
        self._slots = asyncio.Semaphore(limits.concurrency)
        self._waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self.app(scope, receive, send)
        elif await self._admitted():
            await self._run_in_time(scope, receive, send)
        else:
            await send_json(send, 503, SERVER_BUSY, busy_headers())

    async def _admitted(self) -> bool:
        """Take a slot: at once, or after waiting in the queue (False when full or waited too long)."""
        if not self._slots.locked():
            await self._slots.acquire()
            return True
        if self._waiting >= self.limits.queue:
            return False
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.limits.queue_wait_seconds)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1

    async def _run_in_time(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request holding its slot until it ends; answer 504 if it outlives its time limit."""
        state = {"started": False, "abandoned": False}

        async def guarded_send(message: Message) -> None:
            if state["abandoned"]:
                return
            state["started"] = True
            await send(message)

        work = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        work.add_done_callback(self._finished)
        done, _ = await asyncio.wait({work}, timeout=self.limits.request_timeout_seconds)
        if work in done:
            work.result()
            return
        state["abandoned"] = True
        work.cancel()
        if not state["started"]:
            await send_json(send, 504, TIMED_OUT)

    def _finished(self, work: asyncio.Future[Any]) -> None:
        self._slots.release()
        if not work.cancelled():
            work.exception()  # retrieved here: an abandoned request's error is not "never retrieved"
