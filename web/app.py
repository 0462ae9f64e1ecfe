"""Flask app factory: the web layer parses, calls the engine once, and dumps."""

from __future__ import annotations

import secrets

from flask import Flask, jsonify

from orchestrator.service import Engine
from orchestrator.settings import Settings

ENGINE_KEY = "loopline.engine"


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """Build the web app around an engine (a new one from settings if none is given)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_hex(32)
    app.config["LOOPLINE_SETTINGS"] = settings
    app.extensions[ENGINE_KEY] = engine or Engine(settings)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app


def engine_of(app: Flask) -> Engine:
    return app.extensions[ENGINE_KEY]
