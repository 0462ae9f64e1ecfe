"""People sign in with Flask-Security-Too (argon2, CSRF on the form); the session reads the API."""

from __future__ import annotations

import re

from web.auth.demo import DEMO_PASSWORD, seed_demo_users
from web.auth.models import User
from web.extensions import db


def csrf_token(page: bytes) -> str:
    return re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1).decode()


def test_demo_user_signs_in_and_reads_tasks_but_cannot_post_with_the_cookie(app):
    with app.app_context():
        created = seed_demo_users(app.extensions["security"].datastore)
        assert "warehouse@demo.loopline" in created
        stored = db.session.query(User).filter_by(email="warehouse@demo.loopline").one()
        assert stored.password.startswith("$argon2")
        assert [g.name for g in stored.groups] == ["warehouse"]
        assert seed_demo_users(app.extensions["security"].datastore) == []  # idempotent

    browser = app.test_client()
    login_page = browser.get("/login")
    assert login_page.status_code == 200
    refused = browser.post("/login", data={"email": "warehouse@demo.loopline", "password": DEMO_PASSWORD})
    assert refused.status_code == 400 or b"CSRF" in refused.data  # no token, no sign-in
    signed_in = browser.post("/login", data={"email": "warehouse@demo.loopline", "password": DEMO_PASSWORD,
                                             "csrf_token": csrf_token(login_page.data)})
    assert signed_in.status_code in (200, 302)
    tasks = browser.get("/api/v1/tasks")
    assert tasks.status_code == 200, tasks.get_json()
    posted = browser.post("/api/v1/process-definitions/refund_claim/start", json={"variables": {}})
    assert posted.status_code == 401

    wrong = app.test_client()
    page = wrong.get("/login")
    wrong.post("/login", data={"email": "warehouse@demo.loopline", "password": "wrong-password",
                               "csrf_token": csrf_token(page.data)})
    assert wrong.get("/api/v1/tasks").status_code == 401
