"""Single sign-on against a real OpenID Connect exchange with a provider the test runs on loopback."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode, urlparse

import pytest
from authlib.jose import JsonWebKey, jwt  # noqa: the provider side of the test only
from flask import Flask, jsonify, redirect, request
from werkzeug.serving import make_server

from tests.conftest import deploy_fixture
from web.app import create_app
from web.auth.models import User
from web.auth.users import ensure_roles_and_groups
from web.extensions import db


class FakeProvider:
    """Discovery, authorize, token and JWKS endpoints, signing RS256 id tokens for one scripted person."""

    def __init__(self, claims: dict):
        self.claims = claims
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True)
        self.nonces: dict[str, str] = {}
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _build(self) -> Flask:
        app = Flask("fake-idp")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(issuer=self.issuer, authorization_endpoint=f"{self.issuer}/authorize",
                           token_endpoint=f"{self.issuer}/token", jwks_uri=f"{self.issuer}/jwks",
                           id_token_signing_alg_values_supported=["RS256"], response_types_supported=["code"],
                           subject_types_supported=["public"])

        @app.get("/authorize")
        def authorize():
            code = "code-123"
            self.nonces[code] = request.args["nonce"]
            return redirect(f"{request.args['redirect_uri']}?{urlencode({'code': code, 'state': request.args['state']})}")

        @app.post("/token")
        def token():
            now = int(time.time())
            claims = {"iss": self.issuer, "aud": "loopline", "sub": "u-1", "iat": now, "exp": now + 300,
                      "nonce": self.nonces[request.form["code"]], **self.claims}
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key).decode()
            return jsonify(access_token="at", token_type="Bearer", expires_in=300, id_token=id_token)

        @app.get("/jwks")
        def jwks():
            return jsonify(keys=[{**self.key.as_dict(is_private=False), "kid": "k1", "alg": "RS256", "use": "sig"}])

        return app

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


@pytest.fixture
def provider():
    with FakeProvider({"email": "qa.lead@example.com", "email_verified": True,
                       "groups": ["QA-Team", "warehouse", "unknown-team"]}) as running:
        yield running


def test_sso_signs_in_and_maps_groups(make_engine, sqlite_database, provider):
    engine = make_engine(sqlite_database, oidc_issuer=provider.issuer, oidc_client_id="loopline",
                         oidc_client_secret="s3cret", oidc_group_map={"QA-Team": "qa"})
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    app = create_app(engine.settings, engine)
    with app.app_context():
        ensure_roles_and_groups(app.extensions["security"].datastore)
    browser = app.test_client()

    to_provider = browser.get("/login/sso")
    assert to_provider.status_code == 302 and to_provider.location.startswith(provider.issuer + "/authorize")
    back = provider.app.test_client().get(to_provider.location.removeprefix(provider.issuer))
    callback = urlparse(back.location)
    finished = browser.get(f"{callback.path}?{callback.query}")
    assert finished.status_code == 302, finished.data

    with app.app_context():
        person = db.session.query(User).filter_by(email="qa.lead@example.com").one()
        assert sorted(g.name for g in person.groups) == ["qa", "warehouse"]
        assert [r.name for r in person.roles] == ["staff"]
    assert browser.get("/api/v1/tasks").status_code == 200

    forged_state = browser.get(f"{callback.path}?{urlencode({'code': 'code-123', 'state': 'forged'})}")
    assert forged_state.status_code == 403
