"""Public acknowledgement pages: a recall recipient confirms, picks a remedy and reports quantity on hand.

The signed link is the only credential (no login, no CSRF token). The answer is stored first, then
handed to the waiting process as a message; if the hand-over fails, the next answer from the same
recipient retries it without counting the acknowledgement twice. The page speaks the language the notice
was written in (else the browser's) and is titled with the product, never an internal number.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, render_template, request
from flask_babel import force_locale

from integrations.notify.acks import (
    REMEDIES,
    AckInputInvalid,
    AckLinkExpired,
    AckLinkInvalid,
    Acknowledgement,
    lookup_acknowledgement,
    mark_forwarded,
)
from integrations.notify.tracking import record_acknowledgement
from orchestrator.actors import Actor
from orchestrator.errors import EngineError, NotFound
from orchestrator.service import Engine
from web.recall_notice import product_of_case
from web.webhooks import ENGINE_KEY, exempt_from_csrf

log = logging.getLogger(__name__)
ACK_ACTOR = Actor.system("ack")
# the token in the address works like a password: keep it out of caches and other sites' logs
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}

bp = Blueprint("ack", __name__)
exempt_from_csrf(bp)


def _engine() -> Engine:
    return current_app.extensions[ENGINE_KEY]


def _language(ack: Acknowledgement | None) -> str:
    """The notice's language when the link is genuine, else the browser's: en or zh."""
    wanted = (ack.language or "") if ack else ""
    if not wanted:
        wanted = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans", "zh-SG", "zh-TW"]) or "en"
    return "zh" if wanted.lower().startswith("zh") else "en"


def _page(template: str, status: int = 200, ack: Acknowledgement | None = None, **context):
    language = _language(ack)
    product = None
    if ack is not None:
        with _engine().db.reading() as session:
            product = product_of_case(session, ack.instance_id)
    with force_locale("zh_Hans_CN" if language == "zh" else "en"):
        page = render_template(template, remedies=REMEDIES, ack=ack, product=product,
                               html_lang="zh-Hans" if language == "zh" else "en", **context)
    return page, status, PRIVATE_HEADERS


def _link_problem(exc: AckLinkInvalid):
    if isinstance(exc, AckLinkExpired):
        return _page("ack/invalid.html", 410, expired=True)
    return _page("ack/invalid.html", 400, expired=False)


@bp.get("/ack/<token>")
def ack_form(token: str):
    """Show the form, or what was already answered."""
    engine = _engine()
    try:
        with engine.db.reading() as session:
            ack = lookup_acknowledgement(session, token, settings=engine.integration_settings.notify, now=engine.now)
    except AckLinkInvalid as exc:
        return _link_problem(exc)
    if ack.acknowledged_at is not None:
        return _page("ack/done.html", ack=ack, again=True)
    return _page("ack/form.html", ack=ack, errors={}, values={})


@bp.post("/ack/<token>")
def ack_submit(token: str):
    """Record the answer once, then tell the waiting process."""
    engine = _engine()
    settings = engine.integration_settings.notify
    try:
        with engine.db.transaction() as session:
            ack = record_acknowledgement(session, token, request.form.get("remedy"), request.form.get("quantity"),
                                         settings=settings, now=engine.now)
    except AckLinkInvalid as exc:
        return _link_problem(exc)
    except AckInputInvalid as exc:
        with engine.db.reading() as session:
            ack = lookup_acknowledgement(session, token, settings=settings, now=engine.now)
        return _page("ack/form.html", 422, ack=ack, errors=exc.errors, values=request.form)
    if not ack.forwarded:
        _forward(engine, ack)
    return _page("ack/done.html", ack=ack, again=not ack.first)


def _forward(engine: Engine, ack: Acknowledgement) -> None:
    """Correlate the acknowledgement to the instance by business key; nobody waiting is not an error."""
    if ack.business_key is None:
        log.info("acknowledgement of notification %s has no business key to correlate by", ack.notification_id)
    else:
        try:
            engine.messages.correlate_message(ack.message_name, actor=ACK_ACTOR, business_key=ack.business_key,
                                     variables=ack.message_variables())
        except NotFound:
            log.info("no instance waits for %s (business key %s)", ack.message_name, ack.business_key)
        except EngineError as exc:
            log.warning("acknowledgement of notification %s not delivered: %s", ack.notification_id, exc.message)
            return
    with engine.db.transaction() as session:
        mark_forwarded(session, ack.notification_id, engine.now())
