"""Spreadsheets: CSV and XLSX exports of the lists, and imports of returns, trace events and sales volumes."""

from __future__ import annotations

from flask import Blueprint

from web.pages.common import signed_in_pages

bp = Blueprint("spreadsheet_pages", __name__)
signed_in_pages(bp)
