"""Issue 10, item 8: `password` and `12345678` were accepted. Now every place that sets a password — the
`loopline user create` command, the admin page, demo seeding — asks for 12 characters and a zxcvbn score of 3.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from orchestrator.errors import InvalidInput
from tests.security.signing_in import PASSWORD, add_person, build_app, csrf_of, dispose, try_sign_in
from web.auth.demo import DEMO_PASSWORD, seed_demo_users
from web.auth.passwords import password_problem
from web.auth.users import create_user
from web.cli import main

WEAK = ["password", "12345678", "password1234", "123456789012", "qwertyuiopasdf", "iloveyou12345"]


@pytest.fixture
def app(make_engine, sqlite_database):
    application = build_app(make_engine(sqlite_database))
    add_person(application, "admin@example.com", roles=("admin",), groups=())
    yield application
    dispose(application)


@pytest.mark.parametrize("weak", WEAK)
def test_common_and_short_passwords_are_refused(app, weak):
    with app.app_context(), pytest.raises(InvalidInput) as refused:
        create_user(app.extensions["security"].datastore, "bo@example.com", weak)
    assert refused.value.errors == {"password": password_problem(weak, email="bo@example.com")}


def test_the_messages_say_what_is_wrong():
    assert password_problem("12345678") == "must be at least 12 characters"
    assert password_problem("123456789012").startswith("is too easy to guess")
    assert password_problem("x" * 129) == "must be at most 128 characters"
    assert password_problem("tidal-spoon-orchard") is None


def test_the_demo_password_passes_the_policy_and_the_demo_people_still_sign_in(app):
    assert password_problem(DEMO_PASSWORD, email="admin@demo.loopline") is None
    with app.app_context():
        assert "warehouse@demo.loopline" in seed_demo_users(app.extensions["security"].datastore)
    assert try_sign_in(app.test_client(), "warehouse@demo.loopline", DEMO_PASSWORD).status_code == 302


def test_the_admin_page_refuses_a_weak_password_in_the_readers_language(app):
    admin = app.test_client()
    assert try_sign_in(admin, "admin@example.com", PASSWORD).status_code == 302
    token = csrf_of(admin.get("/admin/users").data)

    def add(password: str, **headers):
        return admin.post("/admin/users", headers=headers, data={
            "csrf_token": token, "email": "bo@example.com", "password": password, "role": "staff"})

    refused = add("password1234")
    assert refused.status_code == 422 and "is too easy to guess" in refused.data.decode()
    assert add("12345678").status_code == 422
    chinese = add("password1234", **{"Accept-Language": "zh-CN"})
    assert chinese.status_code == 422 and "太容易被猜到" in chinese.data.decode()
    assert add("tidal-spoon-orchard").status_code == 302


def test_the_command_line_refuses_a_weak_password(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "LOOPLINE_DATABASE_URL", "CELERY_BROKER_URL", "LOOPLINE_CONNECTORS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOOPLINE_HOME", str(tmp_path))
    monkeypatch.setenv("LOOPLINE_ENV", "development")
    runner = CliRunner()
    for weak in ("password", "12345678", "password1234"):
        refused = runner.invoke(main, ["user", "create", "bo@example.com", "--password", weak])
        assert refused.exit_code == 1 and "password" in refused.output, refused.output
    assert "too easy to guess" in refused.output
    created = runner.invoke(main, ["user", "create", "bo@example.com", "--password", "tidal-spoon-orchard"])
    assert created.exit_code == 0, created.output
