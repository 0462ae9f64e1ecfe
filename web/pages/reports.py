"""Printable reports (HTML and PDF): 8D report, recall status report, recall termination summary, return slip."""

from __future__ import annotations

from flask import Blueprint

from web.pages.common import signed_in_pages

bp = Blueprint("report_pages", __name__)
signed_in_pages(bp)
