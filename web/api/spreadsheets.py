"""REST API: CSV and XLSX exports and imports."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("spreadsheets", __name__, url_prefix="/api/v1", description="CSV and XLSX exports and imports")
