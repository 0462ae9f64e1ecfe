"""Outbound HTTP to a business system: auth, the job's Idempotency-Key on every call, typed errors."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from integrations.config import SystemSettings
from integrations.registry import BusinessError, TransientError

RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class RedirectNotFollowed(TransientError):
    """A 3xx answer: never followed, as the next hop may be any host and would get the credentials."""

    def __init__(self, system: str, status: int, location: str):
        super().__init__(f"{system} answered {status} pointing to {location or 'nowhere'}; redirects are not followed")
        self.status = status
        self.location = location


class SystemClient:
    """One remote system; a 5xx, 429, 3xx or network error is transient, another 4xx a business rejection."""

    def __init__(self, name: str, settings: SystemSettings, session: requests.Session | None = None):
        self.name = name
        self.settings = settings
        self.http = session or requests.Session()
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()

    def call(self, method: str, path: str, body: dict[str, Any] | None, idempotency_key: str) -> dict[str, Any]:
        url = f"{self.settings.base_url}/{path.lstrip('/')}"
        raw = json.dumps(body or {}, sort_keys=True, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key,
                   **self._auth_headers(raw)}
        try:
            response = self.http.request(method, url, data=raw if method != "GET" else None, headers=headers,
                                         timeout=self.settings.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise TransientError(f"{self.name} unreachable: {type(exc).__name__}") from exc
        return self._result(response)

    def _result(self, response: requests.Response) -> dict[str, Any]:
        if response.is_redirect:
            raise RedirectNotFollowed(self.name, response.status_code, _origin(response))
        if response.status_code in RETRYABLE_STATUS:
            raise TransientError(f"{self.name} answered {response.status_code}")
        try:
            payload = response.json() if response.content else {}
        except ValueError:
            payload = {"text": response.text[:500]}
        if 400 <= response.status_code < 500:
            code = payload.get("code") if isinstance(payload, dict) else None
            message = payload.get("message") if isinstance(payload, dict) else None
            raise BusinessError(code or f"E_{self.name.upper()}_{response.status_code}",
                                message or f"{self.name} rejected the request ({response.status_code})",
                                details={"status": response.status_code})
        if response.status_code >= 300:
            raise TransientError(f"{self.name} answered {response.status_code}")
        return payload if isinstance(payload, dict) else {"result": payload}

    def _auth_headers(self, raw_body: bytes) -> dict[str, str]:
        kind = self.settings.auth
        if kind == "api_key":
            return {"Authorization": f"Bearer {self.settings.api_key}"}
        if kind == "hmac":
            timestamp = str(int(time.time()))
            digest = hmac.new(self.settings.hmac_secret.encode(), timestamp.encode() + b"." + raw_body,
                              hashlib.sha256).hexdigest()
            return {"X-Loopline-Timestamp": timestamp, "X-Loopline-Signature": f"sha256={digest}"}
        if kind == "oauth2":
            return {"Authorization": f"Bearer {self._oauth_token()}"}
        return {}

    def _oauth_token(self) -> str:
        """Client-credentials token, cached until shortly before it expires."""
        with self._token_lock:
            if self._token and self._token[1] > time.monotonic() + 30:
                return self._token[0]
            try:
                response = self.http.post(self.settings.oauth_token_url, timeout=self.settings.timeout,
                                          allow_redirects=False, data={
                    "grant_type": "client_credentials", "client_id": self.settings.oauth_client_id,
                    "client_secret": self.settings.oauth_client_secret})
            except requests.RequestException as exc:
                raise TransientError(f"{self.name} token endpoint unreachable") from exc
            if response.status_code != 200:
                raise TransientError(f"{self.name} token endpoint answered {response.status_code}")
            data = response.json()
            self._token = (data["access_token"], time.monotonic() + float(data.get("expires_in", 300)))
            return self._token[0]


def _origin(response: requests.Response) -> str:
    """Where a redirect points, as scheme://host:port only: its path and query may carry tokens."""
    target = urlsplit(urljoin(response.url, response.headers.get("Location", "")))
    return f"{target.scheme}://{target.netloc.rpartition('@')[2]}" if target.netloc else ""


def verify_hmac(secret: str, timestamp: str, raw_body: bytes, signature: str) -> bool:
    """The receiving side of the HMAC scheme (used by tests and by systems integrating with Loopline)."""
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)
