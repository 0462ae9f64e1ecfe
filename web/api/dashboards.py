"""REST API: KPIs of returns, recalls and CAPA."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("dashboards", __name__, url_prefix="/api/v1", description="KPIs of returns, recalls and CAPA")
