"""Web ring: the app factory around a real engine and database, API keys for every role."""

from __future__ import annotations

import pytest

from tests.conftest import deploy_fixture
from web.app import create_app
from web.auth.apikeys import create_api_key
from web.auth.users import ensure_roles_and_groups
from web.extensions import db

KEYS = {
    "admin": ("admin", []),
    "owner": ("process_owner", []),
    "auditor": ("auditor", []),
    "shop": ("integration", ["shop"]),
    "carrier": ("integration", []),
    "clerk": ("staff", ["customer_service"]),
    "packer": ("staff", ["warehouse"]),
    "finance": ("staff", ["finance"]),
    "manager": ("staff", ["sales_manager"]),
}


@pytest.fixture
def web_engine(make_engine, database):
    engine = make_engine(database)
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    deploy_fixture(engine, "web_return.bpmn")
    return engine


@pytest.fixture
def app(web_engine):
    application = create_app(web_engine.settings, web_engine)
    application.config["TESTING"] = True
    with application.app_context():  # only for set-up: each request gets its own context, as in production
        ensure_roles_and_groups(application.extensions["security"].datastore, groups=("shop",))
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def tokens(app, web_engine) -> dict[str, str]:
    """Bearer tokens by persona name."""
    with app.app_context():
        issued = {name: create_api_key(db.session, name, role, created_by="test", now=web_engine.now(),
                                       groups=groups).token
                  for name, (role, groups) in KEYS.items()}
        db.session.commit()
    return issued


class ApiClient:
    """The Flask test client with a persona's API key."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __getattr__(self, method):
        def call(path, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)(path, headers=headers, **kwargs)
        return call


@pytest.fixture
def as_(app, tokens):
    """as_('shop').post(...): call the API as a persona (None for anonymous)."""
    client = app.test_client()
    return lambda persona: ApiClient(client, tokens.get(persona) if persona else None)
