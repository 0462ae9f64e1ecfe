"""A scriptable HTTP server on loopback that records every request (stand-in for an ERP or QMS)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"{}")


@dataclass
class StubServer:
    """`script(status, body, delay)` queues answers; with none queued it answers `default` after
    `default_delay` seconds (a system that always takes that long)."""

    default: tuple[int, dict] = (200, {"ok": True})
    default_delay: float = 0.0
    requests: list[Recorded] = field(default_factory=list)
    answers: deque = field(default_factory=deque)

    def __post_init__(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                status, payload, delay = stub.answers.popleft() if stub.answers else (*stub.default,
                                                                                       stub.default_delay)
                if delay:
                    time.sleep(delay)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, status: int, body: dict | None = None, delay: float = 0) -> None:
        self.answers.append((status, body or {}, delay))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
