"""A real HTTP server that fails the way a broken MLflow server does: 401, 403, 5xx, or no answer in time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def failing_server(status: int, delay: float = 0.0, healthy_paths: tuple[str, ...] = ()) -> Iterator[str]:
    """Serve on a free local port: every request waits `delay` s, then gets `status` with a plain-text
    body, except paths containing one of `healthy_paths`, which get 200 and an empty JSON list of
    experiments. Yields the server's `http://127.0.0.1:PORT`."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            time.sleep(delay)
            if any(part in self.path for part in healthy_paths):
                code, body, kind = 200, json.dumps({"experiments": []}).encode(), "application/json"
            else:
                code, body, kind = status, b"failing on purpose", "text/plain"
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_DELETE = _answer

        def log_message(self, *_: object) -> None:
            """Quiet: the test reads the client's output, not the server's."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.handle_error = lambda *_: None  # type: ignore[method-assign]  # a client that gave up waiting
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
