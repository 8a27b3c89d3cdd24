"""A real HTTP webhook receiver on 127.0.0.1 for the alerting tests.

The receiver answers each POST with the next scripted status (200 once the script is used
up), or holds the request without ever answering (`HOLD`) until the test ends.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD = 0  # a scripted "status" meaning: read the request, never answer


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close, so none outlives its test.
    daemon_threads = False
    block_on_close = True


class WebhookReceiver:
    """What the server received, and what it will answer next."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.content_types: list[str | None] = []
        self.script: deque[int] = deque()
        self.retry_after: str | None = None  # sent with every 429
        self.received = threading.Event()  # set at each request
        self.release = threading.Event()  # ends held requests
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}/services/T000/B000/token"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def answer(self, *statuses: int) -> None:
        self.script.extend(statuses)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.bodies.append(json.loads(body))
                    receiver.content_types.append(self.headers.get("content-type"))
                    status = receiver.script.popleft() if receiver.script else 200
                receiver.received.set()
                if status == HOLD:
                    receiver.release.wait()
                    self.close_connection = True
                    return
                answer = b"ok" if status == 200 else b"invalid_payload"
                self.send_response(status)
                if status == 429 and receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # keep the test output to what matters

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
