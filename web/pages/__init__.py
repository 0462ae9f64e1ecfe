"""Server-rendered pages for people: inbox, task and start forms, cases, admin."""

from __future__ import annotations

import uuid

from flask import Flask
from flask_security import current_user
from flask_wtf.csrf import generate_csrf

from orchestrator.authorization import Permission, can
from web.pages import admin, inbox, instances, tasks
from web.pages.common import engine, person


def init_pages(app: Flask) -> None:
    for module in (inbox, tasks, instances, admin):
        app.register_blueprint(module.bp)
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.globals["Permission"] = Permission
    app.jinja_env.globals["uuid4"] = lambda: str(uuid.uuid4())

    @app.context_processor
    def _navigation():
        if not current_user or not current_user.is_authenticated:
            return {"me": None, "startable": [], "may": lambda permission: False}
        actor = person()
        startable = engine().startable_definitions() if can(actor, Permission.START) else []
        return {"me": actor, "startable": startable, "may": lambda permission: can(actor, permission)}
