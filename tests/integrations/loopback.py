"""A loopback HTTP server standing in for Twilio and SendGrid: records requests, answers as scripted.

The real SDKs talk to it (Twilio's `client.api.base_url` and SendGrid's `host` point here), so their
request building, authentication and error handling run exactly as in production. As at the real providers,
a message is taken when the server decides to accept it, whether or not the client is still there to read
the answer; the messages taken can be listed as Twilio's message list and SendGrid's e-mail activity show them.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")
SENDGRID_PATH = "/v3/mail/send"
SENDGRID_ACTIVITY_PATH = "/v3/messages"
SENDGRID_ARG_QUERY = re.compile(r"unique_args\['(?P<name>[^']+)'\]=\"(?P<value>[^\"]*)\"")
TWILIO_ERRORS = {
    400: (21211, "The 'To' number is not a valid phone number."),
    401: (20003, "Authenticate"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


@dataclass(frozen=True)
class Reply:
    """How to answer one request: `status` 0 is the endpoint's success answer; `delay` waits first."""

    status: int = 0
    delay: float = 0.0


@dataclass
class Recorded:
    provider: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    message_id: str | None = None
    taken_at: datetime | None = None

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode("utf-8")).items()}

    def json(self) -> dict:
        return json.loads(self.body)

    @cached_property
    def recipient(self) -> str:
        """The To of an SMS or the first e-mail address of a SendGrid request."""
        if self.provider == "twilio":
            return self.form()["To"]
        return self.json()["personalizations"][0]["to"][0]["email"]


@dataclass
class ProviderServer:
    """Start with `start()`; `script(provider, Reply(500), ...)` queues answers, `rule(...)` answers by request."""

    requests: list[Recorded] = field(default_factory=list)
    _scripts: dict[str, deque[Reply]] = field(default_factory=lambda: {"twilio": deque(), "sendgrid": deque()})
    _rules: list[tuple[Callable[[Recorded], bool], Reply]] = field(default_factory=list)
    # what a lookup (message list / e-mail activity) answers: 0 lists what was taken, else this error status
    lookup_status: int = 0
    lookups: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ProviderServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server hook name
                server._answer(self)

            def do_GET(self):  # noqa: N802 - the http.server hook name
                server._lookup(self)

            def log_message(self, format, *args):  # keep pytest output quiet
                pass

        Handler.protocol_version = "HTTP/1.1"  # keep-alive, as the providers' servers: Twilio's client reuses it
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.request_queue_size = 128
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def script(self, provider: str, *replies: Reply | int) -> None:
        """The next answers of `provider`, in order; after them, success."""
        with self._lock:
            self._scripts[provider].extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def rule(self, when: Callable[[Recorded], bool], reply: Reply | int) -> None:
        """Answer every matching request so (e.g. refuse one phone number); rules win over the script."""
        with self._lock:
            self._rules.append((when, reply if isinstance(reply, Reply) else Reply(reply)))

    def accepted(self, provider: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.accepted and provider in (None, r.provider)]

    def received(self, provider: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if provider in (None, r.provider)]

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if len(body) < length:  # the client died mid-request: a provider takes no half a message
            handler.close_connection = True
            return
        if TWILIO_PATH.match(handler.path):
            provider = "twilio"
        elif handler.path == SENDGRID_PATH:
            provider = "sendgrid"
        else:
            handler.send_error(404)
            return
        record = Recorded(provider, handler.command, handler.path, dict(handler.headers.items()), body)
        with self._lock:
            reply = next((r for when, r in self._rules if when(record)), None)
            if reply is None:
                reply = self._scripts[provider].popleft() if self._scripts[provider] else Reply()
            self.requests.append(record)
        status, headers, payload = (self._twilio if provider == "twilio" else self._sendgrid)(record, reply.status)
        with self._lock:
            record.status = status  # taken (or refused) now: a slow answer changes nothing about it
            record.taken_at = datetime.now(UTC)
        if reply.delay:
            time.sleep(reply.delay)
        self._send(handler, status, headers, payload)

    def _send(self, handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up before the answer; what was taken stays taken

    def _lookup(self, handler: BaseHTTPRequestHandler) -> None:
        """Twilio's message list filtered by To, or SendGrid's e-mail activity queried by a custom argument."""
        url = urlsplit(handler.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        with self._lock:
            self.lookups += 1
            taken = [r for r in self.requests if r.accepted]
            status = self.lookup_status
        if status:
            self._send(handler, status, {"Content-Type": "application/json"},
                       json.dumps({"errors": [{"message": f"error {status}"}], "code": status,
                                   "message": "error", "status": status}).encode())
            return
        if TWILIO_PATH.match(url.path):
            found = [r for r in taken if r.provider == "twilio" and r.form().get("To") == query.get("To")]
            messages = [{"sid": r.message_id, "to": r.form().get("To"), "body": r.form().get("Body"),
                         "status": "sent", "date_created": format_datetime(r.taken_at, usegmt=True)}
                        for r in reversed(found)][: int(query.get("PageSize", 50))]
            body = {"messages": messages, "page": 0, "page_size": len(messages), "next_page_uri": None,
                    "first_page_uri": url.path, "previous_page_uri": None, "uri": handler.path,
                    "start": 0, "end": max(len(messages) - 1, 0)}
        elif url.path == SENDGRID_ACTIVITY_PATH and (match := SENDGRID_ARG_QUERY.fullmatch(query.get("query", ""))):
            found = [r for r in taken if r.provider == "sendgrid"
                     and r.json().get("custom_args", {}).get(match["name"]) == match["value"]]
            body = {"messages": [{"msg_id": f"{r.message_id}.filter0001", "to_email": r.recipient,
                                  "status": "delivered"} for r in found][: int(query.get("limit", 10))]}
        else:
            handler.send_error(404)
            return
        self._send(handler, 200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def _twilio(self, record: Recorded, status: int) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if status and status >= 300:
            code, message = TWILIO_ERRORS.get(status, (status, "error"))
            body = {"code": code, "message": message, "status": status,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}"}
            return status, headers, json.dumps(body).encode()
        form = record.form()
        record.message_id = "SM" + uuid.uuid4().hex
        sid = TWILIO_PATH.match(record.path)["sid"]
        body = {"sid": record.message_id, "account_sid": sid, "status": "queued", "to": form.get("To"),
                "from": form.get("From"), "body": form.get("Body"), "num_segments": "1", "direction": "outbound-api",
                "api_version": "2010-04-01", "uri": f"{record.path[:-5]}/{record.message_id}.json"}
        return status or 201, headers, json.dumps(body).encode()

    def _sendgrid(self, record: Recorded, status: int) -> tuple[int, dict[str, str], bytes]:
        if status and status >= 300:
            if status == 400:
                errors = [{"message": "Does not contain a valid address.", "field": "personalizations.0.to.0.email",
                           "help": None}]
            else:
                errors = [{"message": f"error {status}", "field": None, "help": None}]
            return status, {"Content-Type": "application/json"}, json.dumps({"errors": errors}).encode()
        record.message_id = uuid.uuid4().hex[:22]
        return status or 202, {"X-Message-Id": record.message_id}, b""
