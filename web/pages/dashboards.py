"""Management dashboards per process: KPIs, charts and the cases behind every bar."""

from __future__ import annotations

from flask import Blueprint

from web.pages.common import signed_in_pages

bp = Blueprint("dashboard_pages", __name__)
signed_in_pages(bp)
