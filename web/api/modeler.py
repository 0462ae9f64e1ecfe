"""Modeler drafts and validation over the API."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("modeler", __name__, url_prefix="/api/v1", description="Modeler drafts and validation")
