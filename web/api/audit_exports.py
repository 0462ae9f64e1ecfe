"""Audit exports over the API: a case's audit bundle and a filtered list of events as CSV or XLSX."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("audit_exports", __name__, url_prefix="/api/v1", description="Audit exports")
