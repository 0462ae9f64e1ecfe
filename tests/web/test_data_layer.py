"""One data layer: the web app's sessions come from the engine's own connection pool."""

from __future__ import annotations

from web.extensions import db


def test_the_web_app_and_the_engine_share_one_connection_pool(app, web_engine):
    """On PostgreSQL; SQLite keeps the web layer's connections apart (see EngineSharingSQLAlchemy)."""
    with app.app_context():
        assert db.engine.url == web_engine.db.engine.url
        assert (db.engine.pool is web_engine.db.engine.pool) == web_engine.db.is_postgres


def test_writes_through_both_layers_work_side_by_side(as_):
    """An API key (web session) and an instance start (engine command) in one process, one pool."""
    admin = as_("admin")
    started = admin.post("/api/v1/process-definitions/refund_claim/start",
                         json={"businessKey": "POOL-1", "variables": {"amount": 10, "customer": "c"}})
    assert started.status_code in (200, 201), started.get_json()
    created = admin.post("/api/v1/api-keys", json={"name": "pool-check", "role": "auditor"})
    assert created.status_code in (200, 201), created.get_json()
    assert admin.get(f"/api/v1/instances/{started.get_json()['id']}").status_code == 200
