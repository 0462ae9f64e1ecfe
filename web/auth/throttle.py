"""Sign-in throttling: after a few failed sign-ins per account or client address, 429 until the window passes.

Only failed checks count, so people who sign in and out all day are never slowed down. While a limit is
exhausted every sign-in for that e-mail address is refused before the password is looked at — the right
password too — so a guesser learns nothing, and the answer is the same whether the account exists or not.
Attempts still in flight when the limit fills up are let through, so a burst can pass at most a server's
worth of threads beyond it. Counters live in Redis when the broker is Redis (shared by every web process),
else in this process's memory.
"""

from __future__ import annotations

import hashlib
import math
import time

from flask import Flask, g, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter import Limiter, RequestLimit
from flask_login import user_logged_in
from limits import parse_many

from orchestrator.settings import Settings
from web.api.problems import problem

LOGIN_ENDPOINT = "security.login"


def init_login_throttle(app: Flask, settings: Settings) -> Limiter | None:
    """Limit failed sign-ins on the login view; one limiter per app, so apps built side by side share nothing."""
    if not settings.login_rate_limit and not settings.login_address_rate_limit:
        return None
    for value in (settings.login_rate_limit, settings.login_address_rate_limit):
        if value:
            parse_many(value)  # a typo in LOOPLINE_LOGIN_*RATE_LIMIT fails at start-up, not at the first sign-in
    limiter = Limiter(key_func=_client_address, storage_uri=_storage_uri(settings), strategy="moving-window",
                      key_prefix="loopline-login", in_memory_fallback_enabled=True, swallow_errors=True,
                      on_breach=_refusal)
    limiter.init_app(app)
    view = app.view_functions[LOGIN_ENDPOINT]
    if settings.login_rate_limit:
        view = limiter.limit(settings.login_rate_limit, key_func=_account, methods=["POST"],
                             deduct_when=_sign_in_failed)(view)
    if settings.login_address_rate_limit:
        view = limiter.limit(settings.login_address_rate_limit, key_func=_client_address, methods=["POST"],
                             deduct_when=_sign_in_failed)(view)
    app.view_functions[LOGIN_ENDPOINT] = view
    user_logged_in.connect(_note_sign_in, app)
    return limiter


def _storage_uri(settings: Settings) -> str:
    broker = settings.broker_url
    return broker if broker.startswith(("redis://", "rediss://")) else "memory://"


def _account() -> str:
    """The e-mail address tried, whether or not such a person exists (hashed: fixed size, not stored in clear)."""
    body = request.get_json(silent=True) if request.is_json else None
    tried = (body.get("email") if isinstance(body, dict) else None) or request.form.get("email") or ""
    normalized = str(tried).strip().lower()
    return "account:" + hashlib.sha256(normalized.encode("utf-8", "replace")).hexdigest()


def _client_address() -> str:
    return "address:" + (request.remote_addr or "unknown")


def _note_sign_in(_app, **_extra) -> None:
    g.loopline_signed_in = True


def _sign_in_failed(response) -> bool:
    """A POST that signed nobody in counts; a refusal by the throttle itself does not extend the wait."""
    return response.status_code != 429 and not g.get("loopline_signed_in", False)


def _refusal(limit: RequestLimit):
    """The same answer for every account: too many failures, wait; nothing says whether the account exists."""
    wait = {"Retry-After": str(max(1, math.ceil(limit.window.reset_time - time.time())))}
    if request.is_json:
        return problem(429, "Too Many Requests", "too many failed sign-ins; wait, then try again", headers=wait)
    page = render_template("errors/message.html", heading=_("Sign-in paused"),
                           message=_("Too many failed sign-ins. Wait a few minutes, then try again."),
                           back=url_for(LOGIN_ENDPOINT))
    return make_response(page, 429, wait)
