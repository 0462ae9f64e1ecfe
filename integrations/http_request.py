"""`http.request`: a templated call to any allowed host; secrets by reference, JSON result mapping."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

from integrations.config import SystemSettings
from integrations.http_client import SystemClient
from integrations.registry import BusinessError, ConnectorRegistry, IntegrationContext, JobContext

PLACEHOLDER = re.compile(r"\{(secret:)?([A-Za-z_][A-Za-z0-9_]*)\}")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


class HttpRequest:
    """Input: method, url, optional headers/body with {variable} and {secret:NAME} placeholders, resultMapping."""

    topic = "http.request"
    system = "http"
    timeout = 10.0

    def __init__(self, context: IntegrationContext):
        self.context = context

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        method = str(variables.get("method", "GET")).upper()
        if method not in METHODS:
            raise BusinessError("E_INVALID_INPUT", f"http.request: method must be one of {sorted(METHODS)}")
        if not variables.get("url"):
            raise BusinessError("E_INVALID_INPUT", "http.request: url is required")
        url = self._render(str(variables["url"]), variables, in_url=True)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.netloc not in self.context.settings.http_allowed_hosts:
            raise BusinessError("E_HOST_NOT_ALLOWED",
                                f"http.request: {parts.netloc or url!r} is not in LOOPLINE_HTTP_ALLOWED_HOSTS")
        body = self._render_value(variables.get("body"), variables)
        headers = {k: self._render(str(v), variables) for k, v in (variables.get("headers") or {}).items()}
        client = SystemClient("http", SystemSettings(base_url=f"{parts.scheme}://{parts.netloc}", timeout=self.timeout))
        client.http.headers.update(headers)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = client.call(method, path, body if isinstance(body, dict) else None, job.idempotency_key)
        mapping = variables.get("resultMapping") or {}
        if not mapping:
            return {"response": response}
        return {name: _pick(response, path_expr) for name, path_expr in mapping.items()}

    def _render(self, template: str, variables: dict[str, Any], in_url: bool = False) -> str:
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

    def _render_value(self, value: Any, variables: dict[str, Any]) -> Any:
        if isinstance(value, str):
            return self._render(value, variables)
        if isinstance(value, dict):
            return {k: self._render_value(v, variables) for k, v in value.items()}
        if isinstance(value, list):
            return [self._render_value(v, variables) for v in value]
        return value


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
