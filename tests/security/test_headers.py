"""Issue 10, item 8: every response carries a strict Content-Security-Policy, refuses framing and sniffing,
and the session and remember-me cookies are HttpOnly, SameSite=Lax, and Secure in production.

Found: no CSP, no frame-ancestors, no SameSite, no Secure in the production shape.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.security.signing_in import PASSWORD, add_person, build_app, dispose, try_sign_in
from web.browser_security import CONTENT_SECURITY_POLICY

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
ANA = "ana@example.com"
EVERY_KIND_OF_RESPONSE = [
    "/login",  # a page
    "/inbox",  # a redirect to sign in
    "/api/v1/tasks",  # a 401 problem
    "/api/openapi.json",  # JSON
    "/api/docs",  # Swagger UI
    "/static/loopline/loopline.css",  # a static file
    "/no-such-page",  # a 404
    "/healthz",
]


@pytest.fixture
def app(make_engine, sqlite_database):
    application = build_app(make_engine(sqlite_database))
    add_person(application, ANA)
    yield application
    dispose(application)


def _directives(policy: str) -> dict[str, str]:
    return {part.split()[0]: part.partition(" ")[2] for part in (p.strip() for p in policy.split(";")) if part}


@pytest.mark.parametrize("path", EVERY_KIND_OF_RESPONSE)
def test_every_response_carries_the_security_headers(app, path):
    answer = app.test_client().get(path)
    assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in answer.headers  # plain http outside production


def test_the_policy_runs_only_our_own_scripts_and_styles_and_forbids_framing():
    policy = _directives(CONTENT_SECURITY_POLICY)
    assert policy["script-src"] == "'self'"  # no inline script, no eval, no CDN
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY


def test_no_template_holds_a_script_or_style_the_policy_would_block():
    inline = []
    for template in TEMPLATES.rglob("*.html"):
        text, name = template.read_text(encoding="utf-8"), template.relative_to(TEMPLATES)
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:  # JSON data blocks never run
                inline.append(f"{name}: {tag}")
        inline += [f"{name}: {found}" for found in re.findall(r"<style\b|\sstyle=|\son[a-z]+=|javascript:", text)]
    assert not inline, inline


def test_swagger_ui_starts_from_a_file_not_an_inline_script(app):
    docs = app.test_client().get("/api/docs").data.decode()
    assert "/static/loopline/swagger-init.js" in docs
    assert not re.search(r"<script>(?!</script>)", docs)
    assert app.test_client().get("/static/loopline/swagger-init.js").status_code == 200


def _cookie_headers(answer) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in answer.headers.getlist("Set-Cookie")}


def test_cookies_are_http_only_and_same_site_lax(app):
    signed_in = try_sign_in(app.test_client(), ANA, PASSWORD, remember="y")
    assert signed_in.status_code == 302
    cookies = _cookie_headers(signed_in)
    for name in ("session", "remember_token"):
        assert "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name], cookies[name]
        assert "Secure" not in cookies[name]  # development serves plain http on a laptop


def test_production_cookies_are_secure_and_https_is_remembered(make_engine, sqlite_database):
    engine = make_engine(sqlite_database)
    production = replace(engine.settings, environment="production", secret_key="production-secret-for-tests")
    app = build_app(engine, production)
    try:
        add_person(app, ANA)
        client = app.test_client()
        signed_in = try_sign_in(client, ANA, PASSWORD, remember="y")
        assert signed_in.status_code == 302
        cookies = _cookie_headers(signed_in)
        for name in ("session", "remember_token"):
            assert "Secure" in cookies[name] and "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name]
        assert signed_in.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert signed_in.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    finally:
        dispose(app)
