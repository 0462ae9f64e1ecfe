"""The heatmap on a version's diagram and the tasks likely to miss their due date."""

from __future__ import annotations

from flask import Blueprint

from web.pages.common import signed_in_pages

bp = Blueprint("heatmap_pages", __name__)
signed_in_pages(bp)
