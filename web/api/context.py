"""What every API view needs: the engine and the calling actor."""

from __future__ import annotations

from flask import current_app

from orchestrator.actors import Actor
from orchestrator.service import Engine
from web.auth.current import require_actor
from web.extensions import ENGINE_KEY

ERRORS = {"401": {"description": "Not signed in / no valid API key"},
          "403": {"description": "The role does not allow this"}}


def engine() -> Engine:
    return current_app.extensions[ENGINE_KEY]


def actor() -> Actor:
    return require_actor()
