"""Provider webhooks: Twilio status callbacks and SendGrid events, verified before anything is read.

No login (the signature is the credential) and no CSRF token (providers cannot send one). A request
that cannot be proven to come from the provider gets 403 and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integrations.notify.tracking import (
    WebhookRejected,
    apply_sendgrid_events,
    apply_twilio_status,
    parse_sendgrid_events,
    verify_sendgrid,
    verify_twilio,
)
from orchestrator.service import Engine
from web.api.problems import problem
from web.extensions import ENGINE_KEY

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 5 * 1024 * 1024
T = TypeVar("T")

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def exempt_from_csrf(blueprint: Blueprint) -> None:
    """Keep CSRF protection (when the app has it) off a blueprint whose callers cannot send a token."""

    def exempt(state: BlueprintSetupState) -> None:
        csrf = state.app.extensions.get("csrf")
        if csrf is not None:
            csrf.exempt(blueprint)

    blueprint.record_once(exempt)


exempt_from_csrf(bp)


def _engine() -> Engine:
    return current_app.extensions[ENGINE_KEY]


def _rejected(provider: str, exc: WebhookRejected):
    log.warning("%s webhook rejected: %s", provider, exc)
    return problem(403, "Forbidden", str(exc))


def _apply_once(engine: Engine, apply: Callable[[Session], T]) -> T:
    """Apply in one transaction; if a concurrent delivery of the same event won the race, apply again."""
    try:
        with engine.db.transaction() as session:
            return apply(session)
    except IntegrityError:
        with engine.db.transaction() as session:
            return apply(session)


@bp.post("/twilio/status")
def twilio_status():
    """Twilio message status callback (form-encoded, signed with the account's auth token)."""
    engine = _engine()
    settings = engine.integration_settings.notify
    public_url = f"{settings.ack_base_url.rstrip('/')}{request.full_path.rstrip('?')}"
    signature = request.headers.get("X-Twilio-Signature")
    try:
        _verify_any(settings.twilio_auth_token, [request.url, public_url], signature)
    except WebhookRejected as exc:
        return _rejected("Twilio", exc)
    try:
        result = _apply_once(engine, lambda session: apply_twilio_status(session, request.form, engine.now()))
    except ValueError as exc:
        return problem(400, "Bad Request", str(exc))
    log.info("Twilio status callback: %s", result)
    return "", 204


def _verify_any(auth_token: str, urls: list[str], signature: str | None) -> None:
    """Twilio signs the URL it called: the one we see, or the public URL when a proxy rewrote it."""
    problem_seen: WebhookRejected | None = None
    for url in dict.fromkeys(urls):
        try:
            verify_twilio(auth_token, url, request.form, signature)
            return
        except WebhookRejected as exc:
            problem_seen = exc
    raise problem_seen or WebhookRejected("no URL to verify")


@bp.post("/sendgrid/events")
def sendgrid_events():
    """SendGrid Event Webhook: a JSON array, ECDSA-signed over timestamp + the raw body."""
    engine = _engine()
    settings = engine.integration_settings.notify
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return problem(413, "Payload Too Large", f"at most {MAX_BODY_BYTES} bytes")
    raw = request.get_data(cache=True)
    from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader  # SDK only when used

    try:
        verify_sendgrid(settings.sendgrid_webhook_public_key, raw, request.headers.get(EventWebhookHeader.SIGNATURE),
                        request.headers.get(EventWebhookHeader.TIMESTAMP), now=engine.now(),
                        max_age_seconds=settings.webhook_max_age_seconds)
    except WebhookRejected as exc:
        return _rejected("SendGrid", exc)
    try:
        events = parse_sendgrid_events(raw)
    except ValueError as exc:
        return problem(400, "Bad Request", f"not an event batch: {exc}")
    result = _apply_once(engine, lambda session: apply_sendgrid_events(session, events, engine.now()))
    log.info("SendGrid events: %s", result)
    return jsonify(received=result.received, applied=result.applied, duplicates=result.duplicates,
                   unmatched=result.unmatched)
