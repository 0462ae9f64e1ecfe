"""Audit exports for people: a case's audit bundle and a filtered list of events as CSV or XLSX."""

from __future__ import annotations

from flask import Blueprint

from web.pages.common import signed_in_pages

bp = Blueprint("audit_export_pages", __name__)
signed_in_pages(bp)
