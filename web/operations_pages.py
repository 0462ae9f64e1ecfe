"""Read-only pages for operators: the local backends' ledgers, the message outbox and circuit breakers."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_security import current_user
from sqlalchemy import select

from integrations.local_models import LocalRecord, StockLevel
from integrations.notify.models import Notification
from orchestrator.authorization import Permission, can
from web.auth.users import actor_for_user
from web.extensions import db

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
    engine = current_app.extensions["loopline.engine"]
    return render_template(
        "operations/overview.html",
        circuits=engine.breakers.states(),
        stock=list(db.session.scalars(select(StockLevel).order_by(StockLevel.sku, StockLevel.lot).limit(ROWS))),
        records=list(db.session.scalars(select(LocalRecord).order_by(LocalRecord.id.desc()).limit(ROWS))),
        messages=list(db.session.scalars(select(Notification).order_by(Notification.created_at.desc()).limit(ROWS))),
    )
