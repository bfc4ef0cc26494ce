"""Issues 7 and 15 benchmark: the API under bursts of concurrent clients on loopback.

`stockpredictor serve` (default limits: 16 at work, 64 waiting) runs in a subprocess on a store
holding a year of daily predictions (SQLite, or PostgreSQL with `--store postgresql`). For each
burst size (50, 200, 2,000 clients by default), asyncio clients on raw HTTP/1.1 keep-alive
connections (so the client costs little CPU) send GET `--path` back to back for `--seconds`. Per
burst: answers by status, p50/p99 latency of the 200s and of all answers, client-side timeouts
(a hang), the time the server needs after the burst to answer 200 again, and its CPU time per
answer (how much of the latency is the machine being shared); the server's RSS before and after all
bursts; the time SIGTERM takes to stop it during a last burst. Targets (issue 15): no hang, 503 only
past the limit (16 + 64), recovery within seconds, p99 at 50 clients <= 50 ms, memory flat.

Run: `python -m bench api_latency` (or `python -m bench.api_latency --store postgresql`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from bench.common import machine, scratch_postgres
from stockpredictor.calendar import next_trading_day, trading_days
from stockpredictor.config import DATA_DIR_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV
from stockpredictor.db.engine import engine_for
from stockpredictor.db.predictions import upsert_predictions

TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")
LIMIT = 16 + 64  # serve's default --concurrency + --queue
ANSWER_TIMEOUT_SECONDS = 30.0  # a client waiting longer than this calls it a hang


def fill_predictions(database_url: str, days: int) -> None:
    """`days` trading days of daily predictions for TICKERS (what a year of daily runs leaves)."""
    sessions = trading_days(date(2011, 1, 3), date(2012, 12, 31))[-days:]
    now = datetime.now(UTC)
    rows = [
        {
            "kind": "daily",
            "model_run_id": f"run-{i // 60}",
            "model_version": str(i // 60 + 1),
            "ticker": ticker,
            "as_of_date": day,
            "target_date": next_trading_day(day),
            "last_close": 100.0 + i,
            "predicted_close": 100.5 + i,
            "created_at": now,
        }
        for i, day in enumerate(sessions)
        for ticker in TICKERS
    ]
    engine = engine_for(database_url)  # the bench writes the store; the server only reads it
    with engine.begin() as conn:
        upsert_predictions(conn, rows)
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(database_url: str, data_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`stockpredictor serve` on `database_url` and its port, once /readyz answers 200; SIGTERM after."""
    port = _free_port()
    registry = data_dir / "mlflow"
    registry.mkdir()  # an (empty) MLflow file store: readiness needs a registry, the bench does not
    env = {
        **os.environ,
        DATA_DIR_ENV: str(data_dir),
        DATABASE_URL_ENV: database_url,
        MLFLOW_URI_ENV: registry.as_uri(),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "stockpredictor", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while httpx_status(port, "/readyz") != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("`stockpredictor serve` did not become ready")
            time.sleep(0.2)
        yield server, port
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def httpx_status(port: int, path: str) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code
    except httpx.TransportError:
        return None


@dataclass
class Burst:
    """What the clients of one burst saw."""

    statuses: Counter[str] = field(default_factory=Counter)
    ok_latencies: list[float] = field(default_factory=list)
    all_latencies: list[float] = field(default_factory=list)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[str, float]:
    """Send one request on a keep-alive connection; its status code and latency (s)."""
    sent = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return head.split(b" ", 2)[1].decode(), time.perf_counter() - sent


async def _client(port: int, path: str, stop_at: float, burst: Burst) -> None:
    """One connection sending GET `path` back to back until `stop_at`; reconnects when the server closes."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()
    while time.perf_counter() < stop_at:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), ANSWER_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError):
            burst.statuses["connect failed"] += 1
            await asyncio.sleep(0.1)
            continue
        try:
            while time.perf_counter() < stop_at:
                status, latency = await asyncio.wait_for(
                    _exchange(reader, writer, request), ANSWER_TIMEOUT_SECONDS
                )
                burst.statuses[status] += 1
                burst.all_latencies.append(latency)
                if status == "200":
                    burst.ok_latencies.append(latency)
        except TimeoutError:
            burst.statuses["timeout"] += 1
        except (OSError, asyncio.IncompleteReadError):
            burst.statuses["connection lost"] += 1
        finally:
            writer.close()


async def seconds_to_stop_under_load(
    server: subprocess.Popen[bytes], port: int, path: str, clients: int
) -> float:
    """Seconds from SIGTERM to the server's exit while `clients` clients keep loading it."""
    load = asyncio.create_task(burst(port, path, clients, seconds=60))
    await asyncio.sleep(3)
    server.send_signal(signal.SIGTERM)
    start = time.perf_counter()
    await asyncio.to_thread(server.wait, 60)
    stopped = time.perf_counter() - start
    load.cancel()
    await asyncio.gather(load, return_exceptions=True)
    return stopped


async def burst(port: int, path: str, clients: int, seconds: float) -> Burst:
    """`clients` connections load the server for `seconds`."""
    result = Burst()
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(_client(port, path, stop_at, result) for _ in range(clients)))
    return result


def seconds_to_recover(port: int, path: str) -> float:
    """Seconds from now until `path` answers 200 again (checked every 50 ms)."""
    start = time.perf_counter()
    while httpx_status(port, path) != 200:
        time.sleep(0.05)
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _ms(latencies: list[float], percentile: int) -> str:
    if len(latencies) < 2:
        return "-"
    return f"{1000 * statistics.quantiles(latencies, n=100)[percentile - 1]:.1f}"


HEADER = (
    f"  {'clients':>7} {'answers':>8} {'200':>7} {'503':>7} {'other':>22} "
    f"{'p50 ms':>7} {'p99 ms':>7} {'p99 all':>8} {'recover s':>9} {'cpu ms/answer':>13}"
)


def _row(clients: int, seen: Burst, recovery: float, cpu_ms: float) -> str:
    """One line of the table: what `clients` clients saw, the recovery time and the server's CPU cost."""
    other = {k: v for k, v in seen.statuses.items() if k not in ("200", "503")}
    return (
        f"  {clients:>7} {seen.statuses.total():>8} {seen.statuses['200']:>7} "
        f"{seen.statuses['503']:>7} {other or '-'!s:>22} {_ms(seen.ok_latencies, 50):>7} "
        f"{_ms(seen.ok_latencies, 99):>7} {_ms(seen.all_latencies, 99):>8} {recovery:>9.2f} {cpu_ms:>13.2f}"
    )


@contextmanager
def scratch_store(store: str) -> Iterator[str]:
    """The URL of an empty store of kind `store` (removed afterwards)."""
    if store == "postgresql":
        with scratch_postgres() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="bench-api-store-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'store.db'}"


def run(store: str, levels: list[int], seconds: float, days: int, path: str) -> dict[int, Burst]:
    """Fill a scratch store, serve it, send the bursts, print and return what the clients saw."""
    print(
        f"GET {path}: bursts of {', '.join(map(str, levels))} concurrent clients for {seconds:g} s each on "
        f"loopback, {store} store, {days} days x {len(TICKERS)} tickers ({machine()}; "
        f"load average before {os.getloadavg()[0]:.1f}, includes other work)"
    )
    results: dict[int, Burst] = {}
    with scratch_store(store) as database_url, tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        fill_predictions(database_url, days)
        with serving(database_url, Path(tmp)) as (server, port):
            asyncio.run(burst(port, path, 8, 2.0))  # warm-up, not reported
            rss_before = rss_mb(server.pid)
            print(HEADER)
            for clients in levels:
                cpu_before = cpu_seconds(server.pid)
                seen = asyncio.run(burst(port, path, clients, seconds))
                cpu_ms = 1000 * (cpu_seconds(server.pid) - cpu_before) / max(1, seen.statuses.total())
                results[clients] = seen
                print(_row(clients, seen, seconds_to_recover(port, path), cpu_ms), flush=True)
            rss_after = rss_mb(server.pid)
            print(f"  server RSS before/after the bursts: {rss_before:.0f} / {rss_after:.0f} MB")
            stop = asyncio.run(seconds_to_stop_under_load(server, port, path, levels[-1]))
            print(f"  SIGTERM during a burst of {levels[-1]} clients: the server exited in {stop:.2f} s")
    first = results[levels[0]]
    print(
        f"  p99 at {levels[0]} clients {_ms(first.ok_latencies, 99)} ms (target <= 50 ms); 503s below the "
        f"limit of {LIMIT}: {sum(b.statuses['503'] for c, b in results.items() if c <= LIMIT)}; "
        f"timeouts: {sum(b.statuses['timeout'] for b in results.values())}"
    )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--clients", type=int, nargs="+", default=[50, 200, 2000], help="burst sizes")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each burst")
    parser.add_argument("--days", type=int, default=250, help="trading days of stored predictions")
    parser.add_argument("--path", default="/predictions/latest")
    args = parser.parse_args(argv)
    run(args.store, args.clients, args.seconds, args.days, args.path)


if __name__ == "__main__":
    main()
