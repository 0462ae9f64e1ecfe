"""Server-rendered pages for people: inbox, task and start forms, cases, admin."""

from __future__ import annotations

import uuid

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_security import current_user
from flask_wtf.csrf import CSRFError, generate_csrf
from werkzeug.exceptions import RequestEntityTooLarge

from orchestrator.authorization import Permission, can
from web.api.problems import problem
from web.pages import (
    admin,
    audit_exports,
    batches,
    dashboards,
    heatmap,
    inbox,
    instances,
    modeler,
    processes,
    reexecution,
    reports,
    spreadsheets,
    tasks,
    traceability,
)
from web.pages.common import engine, person, safe_next
from web.pages.field_errors import translated_field_error
from web.pages.labels import group_names, label


def init_pages(app: Flask) -> None:
    for module in (inbox, tasks, instances, admin, audit_exports, reexecution, traceability, processes, modeler,
                   batches, dashboards, heatmap, reports, spreadsheets):
        app.register_blueprint(module.bp)
    app.register_error_handler(CSRFError, _form_expired)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.globals["Permission"] = Permission
    app.jinja_env.globals["uuid4"] = lambda: str(uuid.uuid4())
    app.jinja_env.filters["field_error"] = translated_field_error
    app.jinja_env.globals["label"] = label
    app.jinja_env.globals["group_names"] = group_names
    app.jinja_env.globals["upload_types"] = lambda: ",".join(engine().settings.attachment_types)

    @app.context_processor
    def _navigation():
        if not current_user or not current_user.is_authenticated:
            return {"me": None, "startable": [], "may": lambda permission: False}
        actor = person()
        startable = engine().start_forms.startable_definitions() if can(actor, Permission.START) else []
        return {"me": actor, "startable": startable, "may": lambda permission: can(actor, permission)}


def _form_expired(exc: CSRFError):
    """A form posted without a valid token (signed out meanwhile, or a forged post): say so, change nothing."""
    return render_template("errors/message.html", heading=_("The form could not be sent"),
                           message=_("Your session has changed since the form was opened. Open it again and "
                                     "send it once more; nothing was saved."), back=safe_next(request.path)), 400


def _too_large(exc: RequestEntityTooLarge):
    if request.path.startswith("/api/"):
        return problem(413, "Content Too Large", "the request body is too large")
    return render_template("errors/message.html", heading=_("The files are too large"),
                           message=_("Send fewer or smaller files; nothing was saved."),
                           back=safe_next(request.path)), 413
