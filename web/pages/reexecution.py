"""The re-execution check for people: a case run again from its recorded inputs, compared step by step."""

from __future__ import annotations

from flask import Blueprint

from web.pages.common import signed_in_pages

bp = Blueprint("reexecution_pages", __name__)
signed_in_pages(bp)
