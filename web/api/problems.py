"""Errors as application/problem+json (RFC 9457), with a per-field `errors` map for bad input."""

from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, ServiceUnavailable

from orchestrator.errors import EngineError

PROBLEM = "application/problem+json"
DATABASE_UNAVAILABLE = "the database did not answer; try again in a few seconds"
RETRY_AFTER_SECONDS = 5
log = logging.getLogger(__name__)


def retry_after(exc: HTTPException) -> dict[str, str]:
    """The Retry-After header an error carries (503, 429), as response headers."""
    seconds = getattr(exc, "retry_after", None)
    return {"Retry-After": str(seconds)} if seconds else {}


def problem(status: int, title: str, detail: str = "", errors: dict | None = None,
            headers: dict | None = None) -> Response:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten(messages, prefix: str = "") -> dict[str, str]:
    """webargs nests messages by location and field; the client wants 'field': 'what is wrong'."""
    flat: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "query", "form", "files", "headers", "view_args") and not prefix:
                flat.update(_flatten(value, ""))
            else:
                flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        flat[prefix or "_"] = "; ".join(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(_flatten(value, f"{prefix}[{index}]"))
    else:
        flat[prefix or "_"] = str(messages)
    return flat


def _carries_nul() -> bool:
    """NUL characters cannot be stored as text (PostgreSQL refuses them): refuse them at the door."""
    if "\x00" in request.path or b"%00" in request.query_string.lower():
        return True
    if request.is_json:
        raw = request.get_data(cache=True)
        return b"\\u0000" in raw or b"\x00" in raw
    return False


def register_problem_handlers(app: Flask) -> None:
    @app.before_request
    def _refuse_nul():
        if request.path.startswith("/api/") and _carries_nul():
            return problem(422, "Unprocessable Content", "text must not contain NUL characters",
                           {"_request": "contains a NUL character"})
        return None

    @app.errorhandler(EngineError)
    def _engine_error(exc: EngineError):
        errors = getattr(exc, "errors", None) or exc.details.get("errors")
        if not errors and exc.details.get("problems"):
            errors = {f"problem[{i}]": p for i, p in enumerate(exc.details["problems"])}
        headers = {"WWW-Authenticate": 'Bearer realm="loopline"'} if exc.status == 401 else None
        return problem(exc.status, _TITLES.get(exc.status, "Error"), exc.message, errors, headers)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_unavailable(exc: Exception):
        """The database did not answer (restart, failover, connections cut): 503 with Retry-After, never a
        bare 500; a person gets the site's page, a machine a problem it can retry on."""
        log.warning("database unavailable during %s %s: %s", request.method, request.path, exc)
        return _http_error(ServiceUnavailable(DATABASE_UNAVAILABLE, retry_after=RETRY_AFTER_SECONDS))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.response is not None:  # the raiser made its own answer (the sign-in throttle's 429 + Retry-After)
            return exc.response
        if not request.path.startswith("/api/"):
            from web.error_pages import error_page  # the pages package imports this module

            return error_page(exc)  # people get the site's page; the other machine doors a problem too
        headers = retry_after(exc)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        data = getattr(exc, "data", None) or {}
        errors = _flatten(data.get("messages")) if data.get("messages") else None
        detail = "the request has invalid fields" if errors else (exc.description or "")
        return problem(exc.code or 500, exc.name, detail, errors, headers)


_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           422: "Unprocessable Content"}
