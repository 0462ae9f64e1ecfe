"""Who is calling: an API key (Authorization: Bearer …) or a signed-in person."""

from __future__ import annotations

from flask import current_app, g, request
from flask_security import current_user

from orchestrator.actors import Actor
from orchestrator.errors import EngineError
from web.auth.apikeys import actor_for_token
from web.auth.users import actor_for_user
from web.extensions import ENGINE_KEY, db

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Unauthenticated(EngineError):
    status = 401


def current_actor() -> Actor | None:
    """Resolve once per request; None when the caller is anonymous."""
    if "loopline_actor" in g:
        return g.loopline_actor
    actor = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        now = current_app.extensions[ENGINE_KEY].now()
        actor = actor_for_token(db.session, header[7:].strip(), now)
        if actor is None:
            raise Unauthenticated("the API key is unknown, revoked or expired")
    elif current_user and current_user.is_authenticated:
        if request.method not in SAFE_METHODS and request.path.startswith("/api/"):
            # a cookie alone must not change state through the JSON API (no CSRF token there)
            raise Unauthenticated("changes through the API need an API key; the session cookie only reads")
        actor = actor_for_user(current_user)
    g.loopline_actor = actor
    return actor


def require_actor() -> Actor:
    actor = current_actor()
    if actor is None:
        raise Unauthenticated("sign in, or send an API key as 'Authorization: Bearer <key>'")
    return actor
