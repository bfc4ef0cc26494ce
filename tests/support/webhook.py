"""A real HTTP webhook receiver on 127.0.0.1 that records every JSON message posted to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """The receiver's URL and the messages it got, in order."""

    url: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def events(self) -> list[str]:
        """The `event` kind of every message received."""
        return [message["stockpredictor"]["event"] for message in self.messages]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """Serve on a free port of 127.0.0.1 until the block ends."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads the messages."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", received)
    finally:
        server.shutdown()
        server.server_close()
