"""Helpers for the sign-in findings: an app built with chosen settings, people, and a browser-like client."""

from __future__ import annotations

import re

from web.app import create_app
from web.auth.users import create_user, ensure_roles_and_groups
from web.extensions import db

PASSWORD = "tidal-spoon-orchard"


def build_app(engine, settings=None):
    """The real app factory around an engine (with its settings unless others are given), people seeded."""
    app = create_app(settings or engine.settings, engine)
    app.config["TESTING"] = True
    with app.app_context():
        ensure_roles_and_groups(app.extensions["security"].datastore)
    return app


def add_person(app, email: str, password: str = PASSWORD, roles=("staff",), groups=("warehouse",)):
    with app.app_context():
        create_user(app.extensions["security"].datastore, email, password, roles=roles, groups=groups)


def csrf_of(page: bytes) -> str:
    return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()


def try_sign_in(client, email: str, password: str, **extra):
    """POST the sign-in form as a browser does (CSRF token from the page)."""
    token = csrf_of(client.get("/login").data)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token, **extra})


def is_signed_in(client) -> bool:
    return client.get("/api/v1/tasks").status_code == 200


def dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()
