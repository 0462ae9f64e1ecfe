"""REST API: Time spent per element and predicted SLA breaches."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("heatmap", __name__, url_prefix="/api/v1", description="Time spent per element and predicted SLA breaches")
