"""`http.request`: a call to an allowed host built from the model's own text; secrets by reference, no redirects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from integrations.config import SystemSettings
from integrations.http_client import RedirectNotFollowed, SystemClient
from integrations.registry import BusinessError, ConnectorRegistry, IntegrationContext, JobContext

PLACEHOLDER = re.compile(r"\{(secret:)?([A-Za-z_][A-Za-z0-9_]*)\}")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class HttpCall:
    """One request with its placeholders filled: what goes on the wire."""

    method: str
    origin: str  # scheme://host[:port], checked against the allow-list
    path: str
    headers: dict[str, str]
    body: Any


class HttpRequest:
    """Input: method, url, headers, body, resultMapping. `{variable}` and `{secret:NAME}` are filled only in text
    the model author wrote (camunda:inputParameters); a value that came from variables is sent as it is."""

    topic = "http.request"
    system = "http"
    timeout = 10.0

    def __init__(self, context: IntegrationContext):
        self.context = context

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        call = self._build(variables, job.authored_input)
        client = SystemClient("http", SystemSettings(base_url=call.origin, timeout=self.timeout))
        client.http.headers.update(call.headers)
        body = call.body if isinstance(call.body, dict) else None
        try:
            response = client.call(call.method, call.path, body, job.idempotency_key)
        except RedirectNotFollowed as exc:
            raise BusinessError(
                "E_HTTP_REDIRECT",
                f"http.request: {urlsplit(call.origin).netloc} answered {exc.status} pointing to "
                f"{exc.location or 'nowhere'}; redirects are not followed (call the final address, its host "
                "must be in LOOPLINE_HTTP_ALLOWED_HOSTS)", details={"status": exc.status}) from exc
        mapping = variables.get("resultMapping") or {}
        if not mapping:
            return {"response": response}
        return {name: _pick(response, path_expr) for name, path_expr in mapping.items()}

    def _build(self, variables: dict[str, Any], authored: Mapping[str, Any]) -> HttpCall:
        method = str(variables.get("method", "GET")).upper()
        if method not in METHODS:
            raise BusinessError("E_INVALID_INPUT", f"http.request: method must be one of {sorted(METHODS)}")
        if not variables.get("url"):
            raise BusinessError("E_INVALID_INPUT", "http.request: url is required")
        url = str(self._fill(variables["url"], authored.get("url"), variables, in_url=True))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.netloc not in self.context.settings.http_allowed_hosts:
            raise BusinessError("E_HOST_NOT_ALLOWED",
                                f"http.request: {parts.netloc or url!r} is not in LOOPLINE_HTTP_ALLOWED_HOSTS")
        headers = self._fill(variables.get("headers") or {}, authored.get("headers"), variables)
        if not isinstance(headers, dict):
            raise BusinessError("E_INVALID_INPUT", "http.request: headers must be a map of names to values")
        return HttpCall(method=method, origin=f"{parts.scheme}://{parts.netloc}",
                        path=parts.path + (f"?{parts.query}" if parts.query else ""),
                        headers={str(name): str(value) for name, value in headers.items()},
                        body=self._fill(variables.get("body"), authored.get("body"), variables))

    def _fill(self, value: Any, authored: Any, variables: dict[str, Any], in_url: bool = False) -> Any:
        """Fill placeholders where the model author wrote the text; a value from variables is never scanned."""
        if isinstance(authored, str):
            return self._render(authored, variables, in_url)
        if isinstance(authored, dict) and isinstance(value, dict):
            return {key: self._fill(item, authored.get(key), variables) for key, item in value.items()}
        if isinstance(authored, list) and isinstance(value, list):
            return [self._fill(item, authored[index] if index < len(authored) else None, variables)
                    for index, item in enumerate(value)]
        return value

    def _render(self, template: str, variables: dict[str, Any], in_url: bool) -> str:
        """One pass over the template: a substituted value is not scanned again for placeholders."""

        def replace(match: re.Match) -> str:
            is_secret, name = match.group(1), match.group(2)
            if is_secret:
                if name not in self.context.settings.http_secrets:
                    raise BusinessError("E_INVALID_INPUT", f"http.request: secret {name} is not configured")
                value = self.context.settings.http_secrets[name]
            elif name in variables:
                value = str(variables[name])
            else:
                raise BusinessError("E_INVALID_INPUT", f"http.request: variable {name} is not set")
            return quote(value, safe="") if in_url else value

        return PLACEHOLDER.sub(replace, template)


def _pick(document: Any, dotted: str) -> Any:
    """`a.b.0.c` into nested dicts/lists; None when a step is missing."""
    current = document
    for step in str(dotted).split("."):
        if isinstance(current, dict):
            current = current.get(step)
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
    return current


def register_builtin(registry: ConnectorRegistry, context: IntegrationContext) -> None:
    registry.register(HttpRequest(context))
