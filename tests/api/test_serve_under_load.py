"""`stockpredictor serve` under a burst of clients: it sheds what it cannot take, and SIGTERM stops it."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import date, timedelta

import httpx

from stockpredictor.config import Settings
from tests.api.conftest import TICKERS
from tests.support.api_server import Server, serving

CLIENTS = 200
BUSY = (503, '{"detail":"server busy"}')


async def _load_then_terminate(server: Server) -> tuple[Counter[tuple[int, str]], int]:
    """Keep CLIENTS requests in flight, send SIGTERM once 300 are answered; the answers and exit code."""
    answers: Counter[tuple[int, str]] = Counter()
    stop = asyncio.Event()

    async def client(http: httpx.AsyncClient, number: int) -> None:
        sent = 0
        while not stop.is_set():
            sent += 1  # a start day per request: each one misses the answer cache and queries the store
            start = date(2012, 1, 1) + timedelta(days=(number * 7 + sent) % 150)
            try:
                response = await http.get(f"/predictions/{TICKERS[number % len(TICKERS)]}?start={start}")
            except httpx.TransportError:
                return  # the server is going away
            answers[(response.status_code, response.text if response.status_code != 200 else "")] += 1

    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
        clients = [asyncio.create_task(client(http, n)) for n in range(CLIENTS)]
        while answers.total() < 300 and not all(c.done() for c in clients):
            await asyncio.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(server.process.wait, 60)  # raises if it does not stop
        stop.set()
        await asyncio.gather(*clients)
    return answers, exit_code


def test_sigterm_stops_the_server_under_load_and_only_busy_answers_are_refused(
    sqlite_store: Settings,
) -> None:
    with serving(sqlite_store, "--concurrency", "2", "--queue", "4") as server:
        answers, exit_code = asyncio.run(_load_then_terminate(server))
    assert exit_code == -signal.SIGTERM  # uvicorn re-raises the signal once it has shut down
    assert answers[(200, "")] > 0
    assert answers[BUSY] > 0, answers  # 200 clients against 2 at work and 4 waiting: some are shed
    assert set(answers) <= {(200, ""), BUSY}, answers
