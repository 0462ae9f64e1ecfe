"""The re-execution check over the API: run a case again from its recorded inputs and compare."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("reexecution", __name__, url_prefix="/api/v1", description="Re-execution check")
