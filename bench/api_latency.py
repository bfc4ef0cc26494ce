"""Issue 7 benchmark: /predictions/latest latency and throughput under concurrent clients on loopback.

`stockpredictor serve` runs in a subprocess on a store holding a year of daily predictions; an
asyncio client (raw HTTP/1.1 keep-alive connections, so the client costs little CPU) keeps
`--clients` requests in flight for `--seconds` and reports p50/p90/p99 latency and requests/s.
Target (issue 7): p99 <= 50 ms with 50 clients on 2 cores.

Run: `python -m bench api_latency` (or `python -m bench.api_latency --clients 50 --seconds 10`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from bench.common import machine
from stockpredictor.calendar import next_trading_day, trading_days
from stockpredictor.config import DATA_DIR_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV
from stockpredictor.db.engine import engine_for
from stockpredictor.db.predictions import upsert_predictions

TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")
PATH = "/predictions/latest"


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
    with engine_for(database_url).begin() as conn:
        upsert_predictions(conn, rows)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(database_url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """`stockpredictor serve` on `database_url`; returns once /health answers."""
    env = {
        **os.environ,
        DATA_DIR_ENV: str(data_dir),
        DATABASE_URL_ENV: database_url,
        MLFLOW_URI_ENV: f"sqlite:///{data_dir / 'mlflow.db'}",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "stockpredictor", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{port}/tickers", timeout=5).raise_for_status()
            return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("`stockpredictor serve` did not start")


async def _client(port: int, stop_at: float, record_from: float, latencies: list[float]) -> None:
    """One keep-alive connection sending GET PATH back to back; records latencies after `record_from`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()
    try:
        while (sent := time.perf_counter()) < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer: {head[:80]!r}")
            length = next(
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
            if sent >= record_from:
                latencies.append(time.perf_counter() - sent)
    finally:
        writer.close()


async def load(port: int, pid: int, clients: int, seconds: float, warmup: float) -> tuple[list[float], float]:
    """Latencies (s) of the requests sent after `warmup` s, and the server's CPU seconds meanwhile."""
    start = time.perf_counter()
    latencies: list[float] = []
    tasks = [
        asyncio.create_task(_client(port, start + warmup + seconds, start + warmup, latencies))
        for _ in range(clients)
    ]
    await asyncio.sleep(warmup)
    cpu_at_start = _cpu_seconds(pid)
    await asyncio.gather(*tasks)
    return latencies, _cpu_seconds(pid) - cpu_at_start


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(clients: int, seconds: float, warmup: float, days: int) -> dict[str, float]:
    """Fill a scratch SQLite store, serve it, load it, print and return the figures."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        data_dir = Path(tmp)
        database_url = f"sqlite:///{data_dir / 'store.db'}"
        fill_predictions(database_url, days)
        port = _free_port()
        server = start_server(database_url, data_dir, port)
        try:
            latencies, server_cpu = asyncio.run(load(port, server.pid, clients, seconds, warmup))
        finally:
            server.terminate()
            server.wait(timeout=30)
    cuts = statistics.quantiles(latencies, n=100)
    figures = {
        "requests_per_s": len(latencies) / seconds,
        "p50_ms": 1000 * cuts[49],
        "p90_ms": 1000 * cuts[89],
        "p99_ms": 1000 * cuts[98],
        "max_ms": 1000 * max(latencies),
        "server_cpu_ms_per_request": 1000 * server_cpu / len(latencies),
    }
    print(
        f"GET {PATH}: {clients} concurrent clients for {seconds:g} s on loopback, "
        f"{days} days x {len(TICKERS)} tickers stored (os.cpu_count() = {os.cpu_count()}; {machine()})"
    )
    print(f"  load average before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} (includes other work)")
    for name, value in figures.items():
        print(f"  {name:<26} {value:9.2f}")
    verdict = "meets" if figures["p99_ms"] <= 50 else "misses"
    print(f"  p99 {verdict} the 50 ms target")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--days", type=int, default=250, help="trading days of stored predictions")
    args = parser.parse_args(argv)
    run(args.clients, args.seconds, args.warmup, args.days)


if __name__ == "__main__":
    main()
