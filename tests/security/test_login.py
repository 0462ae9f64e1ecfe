"""Issue 10, item 6 and the session part of 8: sign-in is throttled, says one thing for every failure, and
sign-out ends the session for every copy of its cookie.

Found: 30 wrong passwords in 12 s, then in; "Invalid password" vs "Specified user does not exist";
an anonymous `assign` answering 401 or 422 depending on whether the person exists; the session cookie
still working after sign-out.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import replace

import pytest

from tests.conftest import require_service
from tests.security.signing_in import (
    PASSWORD,
    add_person,
    build_app,
    csrf_of,
    dispose,
    is_signed_in,
    try_sign_in,
)
from web.auth.models import User
from web.extensions import db

ANA = "ana@example.com"


@pytest.fixture
def make_app(make_engine, sqlite_database):
    """make_app(**settings) -> the app on a fresh SQLite database with Ana (warehouse) in it."""
    built = []

    def build(**settings):
        app = build_app(make_engine(sqlite_database, **settings))
        add_person(app, ANA)
        built.append(app)
        return app

    yield build
    for app in built:
        dispose(app)


def _error_text(page: bytes) -> list[str]:
    return re.findall(r'class="(?:flash )?error"[^>]*>([^<]*)<', page.decode())


def test_thirty_wrong_passwords_in_a_row_stop_after_five_and_then_even_the_right_one_waits(make_app):
    app = make_app()  # the default policy: 5 failed sign-ins per minute (20 per hour) per e-mail address
    attacker = app.test_client()
    started = time.monotonic()
    answers = [try_sign_in(attacker, ANA, f"guess-{n}").status_code for n in range(30)]
    assert time.monotonic() - started < 12  # the attack's pace
    assert answers == [200] * 5 + [429] * 25  # five refusals of the password, then no more checking at all

    right_password = try_sign_in(attacker, ANA, PASSWORD)
    assert right_password.status_code == 429  # the right password during the pause says nothing either
    assert int(right_password.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in right_password.data.decode()
    assert not is_signed_in(attacker)

    someone_else = app.test_client()  # the pause is the account's, from anywhere: a new client waits too
    assert try_sign_in(someone_else, ANA, PASSWORD).status_code == 429

    unknown = [try_sign_in(app.test_client(), "nobody@example.com", f"guess-{n}").status_code for n in range(30)]
    assert unknown == answers  # an address nobody has is throttled exactly alike: no account list from 429s


def test_the_right_password_works_again_once_the_window_has_passed(make_app):
    app = make_app(login_rate_limit="3 per 2 seconds")
    client = app.test_client()
    assert [try_sign_in(client, ANA, "wrong-guess").status_code for _ in range(3)] == [200, 200, 200]
    paused = try_sign_in(client, ANA, PASSWORD)
    assert paused.status_code == 429 and not is_signed_in(client)

    time.sleep(int(paused.headers["Retry-After"]))
    signed_in = try_sign_in(client, ANA, PASSWORD)
    assert signed_in.status_code == 302 and is_signed_in(client)


def test_one_address_trying_a_password_on_many_accounts_is_cut_off(make_app):
    app = make_app(login_address_rate_limit="4 per minute")
    sprayer = [try_sign_in(app.test_client(), f"person{n}@example.com", "Summer2024!").status_code
               for n in range(6)]
    assert sprayer == [200] * 4 + [429] * 2  # one password tried on many accounts from one address

    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    assert try_sign_in(elsewhere, ANA, PASSWORD).status_code == 302  # other addresses are not punished


def test_web_processes_behind_one_redis_share_the_count(make_app):
    broker = os.environ.get("CELERY_BROKER_URL", "")
    require_service("Redis", broker.startswith("redis"), "set CELERY_BROKER_URL=redis://…")
    first = make_app(broker_url=broker, login_address_rate_limit="")
    engine = first.extensions["loopline.engine"]
    second = build_app(engine, replace(engine.settings, broker_url=broker))  # another `loopline serve`
    try:
        person = f"{uuid.uuid4().hex}@example.com"  # a name no earlier run has counted
        answers = [try_sign_in(app.test_client(), person, "wrong-guess").status_code
                   for app in (first, second) * 4]
        assert answers == [200] * 5 + [429] * 3  # the five failures are counted together
    finally:
        dispose(second)


def test_successful_sign_ins_do_not_count_towards_the_limit(make_app):
    app = make_app(login_rate_limit="3 per minute", login_address_rate_limit="3 per minute")
    client = app.test_client()
    for _ in range(8):  # a shared tablet: people sign in and out all day
        assert try_sign_in(client, ANA, PASSWORD).status_code == 302
        client.post("/logout", data={"csrf_token": _csrf_of_signed_in(client)})
        assert not is_signed_in(client)


def test_a_failed_sign_in_reads_the_same_for_a_known_and_an_unknown_address(make_app):
    app = make_app()
    add_person(app, "gone@example.com")
    with app.app_context():
        db.session.query(User).filter_by(email="gone@example.com").one().active = False
        db.session.commit()

    wrong_password = try_sign_in(app.test_client(), ANA, "not-her-password")
    no_such_person = try_sign_in(app.test_client(), "nobody@example.com", "not-her-password")
    deactivated = try_sign_in(app.test_client(), "gone@example.com", PASSWORD)  # right password, inactive
    for answer in (wrong_password, no_such_person, deactivated):
        assert answer.status_code == 200
        assert _error_text(answer.data) == ["The e-mail address or the password is wrong."]
        text = answer.data.decode()
        assert "does not exist" not in text and "Invalid password" not in text and "disabled" not in text

    reader_of_chinese = app.test_client()
    reader_of_chinese.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    chinese = try_sign_in(reader_of_chinese, "nobody@example.com", "x-y-z")
    assert _error_text(chinese.data) == ["电子邮箱或密码不正确。"]

    def json_sign_in(email: str):
        client = app.test_client()
        token = client.get("/login", headers={"Accept": "application/json"}).get_json()["response"]["csrf_token"]
        return client.post("/login", json={"email": email, "password": "not-her-password", "csrf_token": token})

    known, unknown = json_sign_in(ANA), json_sign_in("nobody@example.com")
    assert (known.status_code, known.get_json()) == (unknown.status_code, unknown.get_json())
    assert known.get_json()["response"]["errors"] == ["The e-mail address or the password is wrong."]


def test_an_anonymous_assign_answers_401_whoever_is_named(make_app):
    app = make_app()
    anonymous = app.test_client()
    task = uuid.uuid4()
    known = anonymous.post(f"/api/v1/tasks/{task}/assign", json={"user": ANA})
    unknown = anonymous.post(f"/api/v1/tasks/{task}/assign", json={"user": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 401  # was 401 for Ana and 422 for nobody
    assert known.get_json() == unknown.get_json()


def test_a_session_cookie_copied_before_sign_out_is_worthless_after_it(make_app):
    app = make_app()
    browser = app.test_client()
    assert try_sign_in(browser, ANA, PASSWORD, remember="y").status_code == 302
    session_cookie = browser.get_cookie("session").value
    remember_cookie = browser.get_cookie("remember_token").value

    def replayed(**cookies) -> bool:
        thief = app.test_client()
        for name, value in cookies.items():
            thief.set_cookie(name, value)
        return is_signed_in(thief)

    assert replayed(session=session_cookie)  # the copy works while the person is signed in
    assert replayed(remember_token=remember_cookie)

    browser.post("/logout", data={"csrf_token": _csrf_of_signed_in(browser)})
    assert not is_signed_in(browser)
    assert not replayed(session=session_cookie)
    assert not replayed(remember_token=remember_cookie)
    assert app.test_client().get("/inbox", headers={"Cookie": f"session={session_cookie}"}).status_code == 302

    again = app.test_client()
    assert try_sign_in(again, ANA, PASSWORD).status_code == 302 and is_signed_in(again)


def _csrf_of_signed_in(client) -> str:
    return csrf_of(client.get("/inbox").data)
