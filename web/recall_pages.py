"""Public recall pages: the notice of a recall for anyone, in their language, with a registration form for
buyers the trace data does not know, and a QR code to print. Staff find the page's link on the case.

The page's address holds a random public id, never a case or ticket number. Only a recall that has reached
notification is public; any other id answers 404, the same as one that was never made.
"""

from __future__ import annotations

import io

import segno
from flask import Blueprint, Flask, abort, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_security import current_user

from integrations.recall_registrations import (
    RegistrationInvalid,
    add_registration,
    check_registration,
    latest_for,
    page_id_for,
    totals_for,
)
from orchestrator.errors import NotFound
from orchestrator.settings import Settings
from web.pages.common import engine, person
from web.recall_form_guard import form_token, limit_posts, spam_problem
from web.recall_notice import PublicRecall, describe, notified, public_recall, recall_case
from web.webhooks import exempt_from_csrf

LOCALES = {"en": "en", "zh": "zh_Hans_CN"}
HTML_LANG = {"en": "en", "zh": "zh-Hans"}
PAGE_HEADERS = {"Cache-Control": "no-cache"}  # the form's time token must be fresh
REGISTER_ENDPOINT = "recall_pages.register"

bp = Blueprint("recall_pages", __name__)
exempt_from_csrf(bp)  # anyone may post: the signed time token, the honeypot and the limiter stand in for CSRF


def init_recall_pages(app: Flask, settings: Settings) -> None:
    """Register the pages and limit the registrations per client address."""
    app.register_blueprint(bp)
    limit_posts(app, settings, REGISTER_ENDPOINT, _too_many)


def _language(recall: PublicRecall | None = None) -> str:
    """?lang= (or the form's lang), else the browser's languages, else the recall's customer language."""
    chosen = (request.values.get("lang") or "").strip().lower()
    if chosen in LOCALES:
        return chosen
    if chosen.startswith("zh"):
        return "zh"
    best = request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans", "zh-SG", "zh-TW", "zh-HK"])
    if best:
        return "zh" if best.startswith("zh") else "en"
    fallback = (recall.language or "") if recall else ""
    return "zh" if fallback.startswith("zh") else "en"


def _render(template: str, language: str, status: int = 200, headers: dict | None = None, **context):
    with force_locale(LOCALES[language]):
        page = render_template(template, language=language, html_lang=HTML_LANG[language], **context)
    return page, status, {**PAGE_HEADERS, **(headers or {})}


def _public(public_id: str) -> PublicRecall:
    with engine().db.reading() as session:
        recall = public_recall(session, public_id)
    if recall is None:
        abort(404)
    return recall


def _form_page(recall: PublicRecall, language: str, status: int = 200, **context):
    values = context.pop("values", None) or {"product": recall.product}
    return _render("recall/page.html", language, status, recall=recall, values=values,
                   errors=context.pop("errors", {}), form_token=form_token(recall.public_id, engine().now),
                   **context)


@bp.get("/recalls/<public_id>")
def page(public_id: str):
    """The recall notice and the registration form."""
    recall = _public(public_id)
    return _form_page(recall, _language(recall))


@bp.post("/recalls/<public_id>")
def register(public_id: str):
    """Store a buyer's registration once it passes the spam checks and every field is right."""
    recall = _public(public_id)
    language = _language(recall)
    core = engine()
    problem = spam_problem(request.form, public_id, core.now)
    if problem is not None:
        return _form_page(recall, language, 400, values=request.form, spam=problem)
    try:
        registration = check_registration(request.form, recall.remedies)
    except RegistrationInvalid as exc:
        return _form_page(recall, language, 422, values=request.form, errors=exc.errors)
    with core.db.transaction() as session:
        add_registration(session, public_id, registration, language=language, now=core.now())
    return _render("recall/thanks.html", language, recall=recall, registration=registration)


def _too_many(wait_seconds: int):
    public_id = (request.view_args or {}).get("public_id", "")
    with engine().db.reading() as session:
        recall = public_recall(session, public_id)
    if recall is None:
        abort(404)
    page, status, headers = _form_page(recall, _language(recall), 429, values=request.form, spam="too_many",
                                       wait_minutes=max(1, (wait_seconds + 59) // 60))
    return make_response(page, status, {**headers, "Retry-After": str(wait_seconds)})


def public_url(public_id: str) -> str:
    """The page's address as people outside reach it (LOOPLINE_PUBLIC_URL, like acknowledgement links)."""
    base = engine().integration_settings.notify.ack_base_url.rstrip("/")
    return base + url_for("recall_pages.page", public_id=public_id)


def _qr(public_id: str, kind: str):
    _public(public_id)
    code = segno.make(public_url(public_id), error="m")
    buffer = io.BytesIO()
    if kind == "svg":
        code.save(buffer, kind="svg", scale=8, border=4, xmldecl=True, svgns=True)
        mimetype = "image/svg+xml"
    else:
        code.save(buffer, kind="png", scale=10, border=4)
        mimetype = "image/png"
    headers = {"Cache-Control": "public, max-age=3600"}
    if request.args.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="recall-{public_id}.{kind}"'
    return buffer.getvalue(), 200, {"Content-Type": mimetype, **headers}


@bp.get("/recalls/<public_id>/qr.svg")
def qr_svg(public_id: str):
    """The page's QR code as SVG (for print at any size)."""
    return _qr(public_id, "svg")


@bp.get("/recalls/<public_id>/qr.png")
def qr_png(public_id: str):
    """The page's QR code as PNG."""
    return _qr(public_id, "png")


@bp.get("/recalls/case/<instance_id>")
def case_public_page(instance_id: str):
    """For staff who may read the case: the public page's link and QR code, and the registrations so far."""
    if not current_user.is_authenticated:
        return redirect(url_for("security.login", next=request.full_path.rstrip("?")))
    core = engine()
    try:
        core.queries.instance_for(person(), instance_id)
    except NotFound:
        abort(404)
    with core.db.transaction() as session:
        case = recall_case(session, instance_id)
        if case is None:
            abort(404)
        public = notified(session, case)
        recall = describe(page_id_for(session, instance_id, core.now()), case) if public else None
        totals = totals_for(session, instance_id)
        latest = latest_for(session, instance_id)
    return render_template("recall/case.html", instance_id=instance_id, recall=recall, totals=totals,
                           registrations=latest, url=public_url(recall.public_id) if recall else None)
