"""Read-only pages for operators: the local backends' ledgers, the message outbox and circuit breakers.

An acknowledgement link in the outbox answers for its recipient: only those who may send messages into
processes see it live; for everyone else (auditors) its token is masked."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_security import current_user
from sqlalchemy import select

from integrations.local_models import LocalRecord, StockLevel
from integrations.notify.acks import redact_ack_links
from integrations.notify.models import Notification
from orchestrator.authorization import Permission, can
from web.auth.users import actor_for_user
from web.extensions import ENGINE_KEY, db

pages = Blueprint("operations_pages", __name__, url_prefix="/operations")
ROWS = 200


@pages.before_request
def _signed_in_operator():
    if not current_user.is_authenticated:
        return redirect(url_for("security.login", next=request.path))
    if not can(actor_for_user(current_user), Permission.READ_OPERATIONS):
        abort(403)
    return None


@pages.get("/")
def overview():
    """What the embedded default did instead of calling outside systems, and how those systems are doing."""
    engine = current_app.extensions[ENGINE_KEY]
    live_links = can(actor_for_user(current_user), Permission.CORRELATE)
    return render_template(
        "operations/overview.html",
        shown=(lambda text: text) if live_links else redact_ack_links,
        circuits=engine.breakers.states(),
        stock=list(db.session.scalars(select(StockLevel).order_by(StockLevel.sku, StockLevel.lot).limit(ROWS))),
        records=list(db.session.scalars(select(LocalRecord).order_by(LocalRecord.id.desc()).limit(ROWS))),
        messages=list(db.session.scalars(select(Notification).order_by(Notification.created_at.desc()).limit(ROWS))),
    )
