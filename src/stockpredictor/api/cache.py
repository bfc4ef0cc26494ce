"""A short-lived cache of answer bodies: the API's data changes once a day, its readers come in bursts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable

from anyio import CapacityLimiter
from anyio.to_thread import run_sync


class AnswerCache:
    """Bodies by key, each computed at most once per `ttl_seconds`, in a worker thread.

    Concurrent requests for a key share one computation; a failed computation is not kept. At most
    `max_entries` bodies are kept (the oldest go first). `limiter` bounds the worker threads used
    (default: the server's thread pool).
    """

    def __init__(
        self, ttl_seconds: float, max_entries: int = 256, limiter: CapacityLimiter | None = None
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._limiter = limiter
        self._bodies: dict[Hashable, tuple[float, bytes]] = {}
        self._pending: dict[Hashable, asyncio.Future[bytes]] = {}

    async def body(self, key: Hashable, compute: Callable[[], bytes]) -> bytes:
        """The fresh body of `key`, computing it with `compute` if there is none."""
        kept = self._bodies.get(key)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._compute(key, compute))
            pending.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._pending[key] = pending
        # a waiter that gives up (request timeout) does not cancel the others' computation
        return await asyncio.shield(pending)

    async def _compute(self, key: Hashable, compute: Callable[[], bytes]) -> bytes:
        try:
            body = await run_sync(compute, limiter=self._limiter)
        finally:
            del self._pending[key]
        now = time.monotonic()
        if len(self._bodies) >= self._max_entries:
            self._bodies = {k: v for k, v in self._bodies.items() if v[0] > now}
            while len(self._bodies) >= self._max_entries:
                del self._bodies[next(iter(self._bodies))]
        self._bodies[key] = (now + self._ttl, body)
        return body
