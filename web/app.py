"""Flask app factory: views parse, call the engine once, and dump."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, jsonify
from sqlalchemy import text

from integrations.config import IntegrationSettings
from orchestrator.service import Engine
from orchestrator.settings import Settings
from web import ack, operations_pages, webhooks
from web.api import (
    apikeys,
    audit_exports,
    batches,
    dashboards,
    definitions,
    external_tasks,
    heatmap,
    instances,
    modeler,
    operations,
    quality_events,
    reexecution,
    reports,
    spreadsheets,
    tasks,
    traceability,
)
from web.api.problems import problem, register_problem_handlers
from web.api.strict_json import init_strict_json
from web.auth.oidc import init_oidc
from web.auth.security import init_security
from web.auth.throttle import init_login_throttle
from web.browser_security import init_browser_security
from web.extensions import ENGINE_KEY, api, db
from web.i18n import init_i18n
from web.pages import init_pages
from web.recall_pages import init_recall_pages


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """Build the web app around an engine (a new one from settings if none is given)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key or instance_secret_key(settings.home),
        LOOPLINE_SETTINGS=settings,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        # a form with a few photos fits; larger bodies are refused before they are read
        MAX_CONTENT_LENGTH=4 * settings.attachment_max_bytes + 1024 * 1024,
        # a form left open on a tablet for hours must still submit: the token lives as long as the session
        WTF_CSRF_TIME_LIMIT=None,
        SECURITY_POST_LOGIN_VIEW="/inbox",
        SECURITY_POST_LOGOUT_VIEW="/login",
        API_TITLE="Loopline",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/static/vendor/swagger-ui/",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
            "security": [{"apiKey": []}],
            "info": {"description": "Loopline REST API: start processes, work tasks, correlate messages."},
        },
    )
    # the embedded default keeps its acknowledgement-link secret in the instance folder, beside the secret key
    app.extensions[ENGINE_KEY] = engine or Engine(
        settings, integration_settings=IntegrationSettings.from_env(home=settings.home))
    db.init_app(app)
    init_security(app)
    init_login_throttle(app, settings)
    init_oidc(app, settings)
    api.init_app(app)
    for module in (definitions, instances, tasks, operations, apikeys, traceability, audit_exports, reexecution,
                   quality_events, modeler, batches, dashboards, heatmap, reports, spreadsheets):
        api.register_blueprint(module.blp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(external_tasks.bp)  # Camunda's protocol: its own errors, not in Loopline's OpenAPI
    app.register_blueprint(ack.bp)
    app.register_blueprint(operations_pages.pages)
    init_recall_pages(app, settings)
    init_i18n(app)
    init_pages(app)
    register_problem_handlers(app)
    init_strict_json(app)
    init_browser_security(app, settings)
    _health_routes(app)
    return app


def _health_routes(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        """Alive: the process answers."""
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        """Ready: the database answers, and the broker when one is configured."""
        engine = engine_of(app)
        checks = {}
        try:
            with engine.db.reading() as session:
                session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if engine.settings.broker_url and not engine.settings.broker_url.startswith("memory"):
            checks["broker"] = _broker_check(engine.settings.broker_url)
        if all(value == "ok" for value in checks.values()):
            return jsonify(status="ready", checks=checks)
        return problem(503, "Service Unavailable", "; ".join(f"{k}: {v}" for k, v in checks.items()))


def _broker_check(url: str) -> str:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"unreachable: {type(exc).__name__}"


def instance_secret_key(home: Path) -> str:
    """A key made once per instance folder and kept there: password hashes and sessions stay valid
    across restarts of the embedded default (production sets LOOPLINE_SECRET_KEY)."""
    path = home / "secret_key"
    if not path.exists():
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:  # created owner-only from the first byte; the first of two racing starts wins
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip()


def engine_of(app: Flask) -> Engine:
    return app.extensions[ENGINE_KEY]
