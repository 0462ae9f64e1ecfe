"""Spam protection of the public recall form, with no outside service: a honeypot field people never see, a
signed time token (a form sent faster than a person types, or older than a day, is refused) and a limit of
posts per client address (in Redis when the broker is Redis, else in this process)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter, RequestLimit
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from orchestrator.settings import Settings

FORM_SALT = "loopline.recall.form"
HONEYPOT = "website"  # a field a person never sees (hidden by CSS): only a bot fills it in
MIN_SECONDS = 3  # nobody reads the notice and fills in the form faster
MAX_AGE_SECONDS = 24 * 3600
RATE_LIMIT = "10 per hour;30 per day"  # per client address: a shop desk registering buyers fits


class _ClockSigner(TimestampSigner):
    """A timestamp signer reading the engine's clock, so tests can move time."""

    def __init__(self, *args: Any, clock: Callable[[], datetime], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())


def _serializer(clock: Callable[[], datetime]) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=FORM_SALT, signer=_ClockSigner,
                                  signer_kwargs={"clock": clock})


def form_token(public_id: str, clock: Callable[[], datetime]) -> str:
    """A token naming the page and when the form was shown."""
    return _serializer(clock).dumps(public_id)


def spam_problem(form: Any, public_id: str, clock: Callable[[], datetime]) -> str | None:
    """Why the post looks automated: honeypot, too_fast, expired or invalid; None when it may be read."""
    if str(form.get(HONEYPOT) or "").strip():
        return "honeypot"
    try:
        value, signed_at = _serializer(clock).loads(str(form.get("form_token") or ""), max_age=MAX_AGE_SECONDS,
                                                    return_timestamp=True)
    except SignatureExpired:
        return "expired"
    except BadSignature:
        return "invalid"
    if value != public_id:
        return "invalid"
    if (clock() - signed_at).total_seconds() < MIN_SECONDS:
        return "too_fast"
    return None


def limit_posts(app: Flask, settings: Settings, endpoint: str, refusal: Callable[[int], Any]) -> Limiter:
    """Limit the endpoint's POSTs per client address; `refusal(seconds to wait)` answers a post over the limit."""

    def on_breach(limit: RequestLimit):
        return refusal(max(1, math.ceil(limit.window.reset_time - time.time())))

    broker = settings.broker_url
    storage = broker if broker.startswith(("redis://", "rediss://")) else "memory://"
    limiter = Limiter(key_func=lambda: "address:" + (request.remote_addr or "unknown"), storage_uri=storage,
                      strategy="moving-window", key_prefix="loopline-recall-form", in_memory_fallback_enabled=True,
                      swallow_errors=True, on_breach=on_breach)
    limiter.init_app(app)
    app.view_functions[endpoint] = limiter.limit(RATE_LIMIT, methods=["POST"])(app.view_functions[endpoint])
    return limiter
