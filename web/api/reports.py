"""REST API: Printable reports as PDF."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="Printable reports as PDF")
